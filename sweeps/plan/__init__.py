"""Planning: a composed study → the list of unique trials, before anything trains.

It owns turning questions into trials with content-hash ids (`build`), the trials a longer one continues
(`prefixes`), the packs trained in one fused step (`packs`), a stage's trials from its source's config
(`stages`), the plan completed from a store after a run (`from_store`), the time estimate (`estimate`)
and the plan as `sweep plan` prints it (`text`). It starts nothing: no Ray, no torch.
"""
