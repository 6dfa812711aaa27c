"""Page scripts run by `st.navigation` in `streamlit_app.py` (top-down, like any Streamlit page)."""
