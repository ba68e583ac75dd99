"""Audits: judges, suites, statistics, attack templates, reports.

Import the submodules you need; none of them imports torch at import time:

* ``core.evals.judges``   refusal keyword judge, reasoning-leak text judge, ensembles and human overrides;
* ``core.evals.model_judges``  probe-on-hidden-states judge and Hugging Face sequence-classification judge;
* ``core.evals.stats``    rates with Wilson CIs, exact McNemar, Newcombe paired-difference CIs;
* ``core.evals.attacks``  jailbreak templates (data files) applied to harmful requests;
* ``core.evals.suites``   subjects, suites, ``run_audit``;
* ``core.evals.repdiff``  per-layer representation differences between two subjects;
* ``core.evals.report``   JSONL records + metadata, scorecards, the offline HTML report.
"""
