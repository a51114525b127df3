"""Running beside the person's apps: the run panel, the action overlay, the magnifier and the own-window bookkeeping."""
