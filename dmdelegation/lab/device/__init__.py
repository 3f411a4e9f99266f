"""A SyncML DM 1.2 client of the project's own: its session logic (``simulator``), a persistent
tree and the process that ``dmdelegation device simulate`` runs."""
