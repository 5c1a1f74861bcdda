"""One run: a config built into task, model and method (`build`), trained into its run directory
(`experiment`, `rundir`), and what guards it (atomic writes, signals, threads, denormals, the resource check)."""
