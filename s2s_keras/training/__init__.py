"""The run plumbing: settings, the runner, callbacks, evaluation, reporting, tuning.

What a recipe's command line turns into a trained, scored and exported model,
by level (docs/architecture.md): `callbacks.py`, `distribute.py`,
`multi_worker_fit.py` and `tuning.py` (training on one device or many, and
keras-tuner); `config.py` (the settings, as dataclasses); `runner.py`,
`evaluation.py`, `reporting.py`, `generation_search.py` and `tasks.py` (one
run, its scores and files, the tasks' registry); `flags.py` (the recipes'
command lines).
"""
