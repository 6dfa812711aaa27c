"""Block-Skim Explorer: `streamlit run streamlit_app.py`. A thin frame; pages and views live in `app/`."""

from __future__ import annotations

import pandas  # noqa: F401  (imported whole before any session: plotly peeks at a half-imported pandas and raises)
import streamlit as st

from app.sidebar import render_sidebar
from app.state import get_reader, init_state

st.set_page_config(page_title="Block-Skim Explorer", page_icon=":material/content_cut:", layout="wide")

reader = get_reader()
if reader is None:  # get_reader has said why; no page can work without a model
    st.stop()
init_state(reader.model.config)
page = st.navigation(
    [
        st.Page("app/pages/explore.py", title="Explore", icon=":material/search:", url_path="explore", default=True),
        st.Page("app/pages/dataset.py", title="Dataset", icon=":material/table_view:", url_path="dataset"),
        st.Page("app/pages/about.py", title="About", icon=":material/info:", url_path="about"),
    ]
)
with st.sidebar:
    render_sidebar(reader)
page.run()
