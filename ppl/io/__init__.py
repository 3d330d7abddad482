"""What crosses the program's edge: data files read (`datafiles`), outputs written whole or not at
all, the summary table (`output`), plots, and the progress of a fit."""
