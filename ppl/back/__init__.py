"""The back end: the rewritten IR compiled into closures over slots (`build`, `expr`, `ops`,
`enumeration`), the parameters as one flat vector (`params`), the data bound to their
declarations (`data`), and the built `program` with its loss, simulation and predictive draws."""
