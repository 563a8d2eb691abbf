"""aae-lab dashboard: a Streamlit multi-page app over aae_core (run ``streamlit run dashboard/app.py``)."""
