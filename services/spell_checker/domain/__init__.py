"""Pure spell-checking logic: tokenizer, correction engines, the symmetric-delete index, rules."""
