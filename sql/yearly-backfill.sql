-- One epoch of the backfill: for one symbol and one calendar period (inclusive
-- bounds, so the periods of a symbol neither overlap nor leave gaps), the hourly
-- bars it holds and how many moved at least {threshold} basis points.
-- Runs on ClickHouse 18.16 and current releases. (No `{symbol:String} AS symbol`:
-- ClickHouse lets WHERE see SELECT aliases, and that alias would shadow the column.)
SELECT
    {period:String} AS period,
    {period.start:Date} AS period_start,
    {period.end:Date} AS period_end,
    min(toDate(ts)) AS first_day,
    max(toDate(ts)) AS last_day,
    count() AS bars,
    countIf(abs(close / open - 1) * 10000 >= {threshold:UInt32}) AS big_moves
FROM sweep_demo_hourly
WHERE symbol = {symbol:String}
  AND toDate(ts) BETWEEN {period.start:Date} AND {period.end:Date}
