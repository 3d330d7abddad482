"""The middle end: the IR (`ir`) and the passes over it: `lower` (AST to IR), `guide` (the
variational family), `dependence` (which elements reach which), `rewrite` (each sample statement
to pathwise, score-function or enumerated form), `explain` (its printed reasons), and `subsample`
(the minibatch plan)."""
