"""The forecasting app (Streamlit): ``salesforecast ui`` or ``streamlit run`` of
``salesforecast/app/main.py``. The model comes from the MLflow registry
(``models:/sales_forecast@champion``, tracking URI from ``MLFLOW_TRACKING_URI``) or a bundle
path/URI, chosen in the sidebar or by ``SALESFORECAST_MODEL``."""
