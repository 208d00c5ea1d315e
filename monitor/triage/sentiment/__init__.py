"""Sentiment aimed at the sentences that name a brand: VADER plus Harken's lexicon."""
