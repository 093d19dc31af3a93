"""Carrier quality (ASR, NER, ACD, PDD) per carrier and destination group, from call outcomes."""
