"""Block-Skim Explorer's Streamlit app: pure builders (`figures`, `markup`) and thin views that render a `SkimTrace`."""
