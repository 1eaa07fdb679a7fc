"""Orders: routing an order to the stock locations that fulfil it."""
