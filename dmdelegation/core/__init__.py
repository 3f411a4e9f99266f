"""The data the engine and the store share: the session record and its roles, processes and
outcomes (`model`), and the effects a transition asks for (`effects`).

Below both the engine and the store: it imports neither (only `attrs` and
`dmdelegation.protocol`), so the store's arrow points down, never back up into the engine.
"""
