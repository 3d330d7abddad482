"""The front end: the grammar's parser (`tables`, `parse`), the syntax tree (`ast`), the checks of
names, kinds and arities (`check`), the language's functions (`functions`), and the one error
hierarchy every layer raises (`errors`)."""
