"""Story: the model knew, it complied, we changed it -- here is the proof. Six steps on a prebuilt bundle."""

import streamlit as st

from app import state
from app import story_widgets as sw
from core.errors import InputError
from core.story.bundle import story_dir
from core.story.steps import STEPS

sw.large_type()
st.title("The story in six steps")
root = story_dir()
try:
    story = state.get_story(root)
except InputError as exc:
    sw.no_bundle(root, exc)
    st.stop()
i = sw.presenter(len(STEPS))
sw.step_view(i, story)
st.divider()
sw.provenance(story)
sw.rebuild_button()
