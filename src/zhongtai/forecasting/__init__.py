"""Demand forecasting: one long frame of series in, quantile forecasts out; the nightly forecast of
every SKU x location, the event calendar and accuracy tracking."""
