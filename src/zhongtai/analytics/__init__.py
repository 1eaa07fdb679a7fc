"""Data middle platform (数据中台): the columnar store, near-real-time aggregates, dashboards and
touchpoint maturity.

Events and business facts (sales lines, the stock ledger, balances, members, the catalog, the
registry) are copied by the sink (``sync``) into Parquet files under the lake directory; DuckDB
answers every dashboard query over them (``lake``). See ``docs/analytics.md``.
"""
