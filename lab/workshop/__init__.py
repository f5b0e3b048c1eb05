"""The workshop: stages (folders of policies with their tables), applying a stage declaratively,
and the lab's own scenario as the evaluator sees it (the modelled state and its matrix)."""
