"""The stakeholder story: a bundle pointing at a finished alignment run, a probe and a few derived files
(``bundle``, ``build``, ``jobs``), read back for the Story page and the offline export (``read``, ``facts``,
``figures``, ``export``); the six steps' words live in ``steps``."""
