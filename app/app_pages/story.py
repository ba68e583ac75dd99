"""Story: the model knew, it complied, we changed it -- here is the proof. Six steps on a prebuilt bundle."""

import streamlit as st

from app import story_widgets as sw
from core.story.steps import STEPS

sw.large_type()
st.title("The story in six steps")
story = sw.open_story()
if story is None:
    st.stop()
i = sw.presenter(len(STEPS))
sw.step_view(i, story)
st.divider()
sw.provenance(story)
sw.rebuild_button()
