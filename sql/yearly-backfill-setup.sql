-- Synthetic hourly bars from 2019-03-14 to 2021-11-29 for three symbols, the third
-- listed only on 2020-08-11: deterministic, no downloads. Runs on ClickHouse 18.16
-- and current releases.
DROP TABLE IF EXISTS sweep_demo_hourly;

CREATE TABLE sweep_demo_hourly
(
    symbol String,
    ts DateTime,
    open Float64,
    close Float64
)
ENGINE = MergeTree
ORDER BY (symbol, ts);

INSERT INTO sweep_demo_hourly
SELECT
    symbol,
    toDateTime('2019-03-14 00:00:00') + n * 3600 AS ts,
    open,
    open * (1 + 0.03 * sin(n / 7 + k) + 0.01 * ((intHash64(n * 3 + k) % 2001) / 1000 - 1)) AS close
FROM
(
    SELECT
        number AS n,
        -- (k, symbol, base price, listed after this many hours); filtered inside the one
        -- arrayJoin, since a WHERE on its alias can re-run it (rows counted twice)
        arrayJoin(arrayFilter(x -> number >= x.4, [(0, 'BTCUSDT', 9000., 0), (1, 'ETHUSDT', 200., 0), (2, 'SOLUSDT', 3., 12384)])) AS s,
        s.1 AS k,
        s.2 AS symbol,
        s.3 * (1 + 0.5 * sin(n / 2000 + k)) AS open
    FROM numbers(23808)
);
