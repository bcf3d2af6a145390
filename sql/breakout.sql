-- Breakout signal: the close rises more than {threshold} basis points above the
-- highest close of the previous {lookback} bars. For each signal, the forward
-- return after 5, 20 and 60 bars; one row per horizon, none when no signal fires.
-- Window functions are avoided on purpose: ClickHouse 18.16 has none, so the
-- rolling max goes through arrays.
SELECT
    {symbol:String} AS symbol,
    horizon,
    count() AS signals,
    round(avg(fwd_return), 6) AS avg_fwd_return,
    round(countIf(fwd_return > 0) / count(), 4) AS hit_rate
FROM
(
    SELECT
        arrayJoin([5, 20, 60]) AS horizon,
        arrayJoin(arrayFilter(
            i -> (i > {lookback:UInt32})
                AND (closes[i] > arrayReduce('max', arraySlice(closes, i - {lookback:UInt32}, {lookback:UInt32})) * (1 + {threshold:Float64} / 10000)),
            arrayEnumerate(closes))) AS i,
        closes[i + horizon] / closes[i] - 1 AS fwd_return,
        i + horizon <= length(closes) AS has_future
    FROM
    (
        SELECT groupArray(close) AS closes
        FROM (SELECT close FROM sweep_demo_bars WHERE symbol = {symbol:String} ORDER BY ts)
    )
)
WHERE has_future
GROUP BY horizon
ORDER BY horizon
