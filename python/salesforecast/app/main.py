"""The app's entry point: ``streamlit run`` this file, or ``salesforecast ui``."""

from __future__ import annotations

from pathlib import Path

# Whole before any session draws a chart: plotly takes pandas from sys.modules, where another
# session's import may be half done (8 sessions opening at once on a fresh server failed with
# "partially initialized module 'pandas' has no attribute 'Series'").
import pandas  # noqa: F401
import streamlit as st

from salesforecast import tracking
from salesforecast.app import common

tracking.quiet_mlflow()

# Not `pages/`: Streamlit would take a folder of that name for its older multipage layout.
PAGES = Path(__file__).with_name("views")

st.set_page_config(page_title="Sales forecast", page_icon=":material/monitoring:", layout="wide")
common.keep_inputs()
st.session_state["loaded"] = common.sidebar()
page = st.navigation(
    [
        st.Page(PAGES / "forecast.py", title="Forecast", icon=":material/show_chart:",
                default=True),
        st.Page(PAGES / "batch.py", title="Batch", icon=":material/upload_file:"),
        st.Page(PAGES / "model.py", title="Model", icon=":material/analytics:"),
        st.Page(PAGES / "versions.py", title="Versions", icon=":material/history:"),
    ]
)  # fmt: skip
page.run()
