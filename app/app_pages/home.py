"""Home: what each page is for, and facts about the active model."""

import streamlit as st

from app import home_widgets as hw

st.title("ReasonScope")
st.write(
    "See *where* a model's hidden states move toward or away from unsafe reasoning — layer by layer and "
    "token by token — and change it with probes, steering and alignment training."
)
hw.page_guide()

st.subheader("Active model")
hw.active_model_panel()

st.subheader("The story")
hw.story_link()
