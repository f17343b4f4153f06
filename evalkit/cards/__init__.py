"""A whole model card in one command (`evalkit card CARD`): cards as data (cards/*.yaml), the plan
made before any model loads, every cell run through one runner, the card written like the
model card's tables. See docs/cards.md."""
