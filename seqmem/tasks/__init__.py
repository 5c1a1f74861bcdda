"""Task registry: each module in this package registers its tasks by short name (`@register_task("copy-memory")`).

The names, summaries and settings are read from the modules' source (seqmem.config.registry), so listing tasks
or checking a config imports no task module, nor PyTorch; building a task (seqmem.run.build.make_task) imports
the one it builds.
"""

from seqmem.config.registry import Registry

TASKS = Registry(__name__, "register_task", "task")
register_task = TASKS.register
