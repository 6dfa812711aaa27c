"""Block-Skim (Guan et al., AAAI 2022) on Hugging Face BERT encoders: skim predictors, real pruning, one trace."""

from .config import SkimConfig
from .inference import Reader, load_model
from .modeling import BlockSkimForQuestionAnswering
from .qa import InputError
from .trace import SkimTrace

__all__ = ["BlockSkimForQuestionAnswering", "InputError", "Reader", "SkimConfig", "SkimTrace", "load_model"]
