"""The base layer under the retrain network (src/model) and the search (src/nas): convolutions,
resize, batch norm, the conv-norm-act block and the candidate operations (the op table)."""
