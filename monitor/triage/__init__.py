"""Mention -> Verdict, pure and without I/O: brand query, sentiment, rules, spikes."""
