-- Synthetic one-minute bars for three symbols: deterministic (no downloads, no
-- randomness between runs), with trends, cycles and noise so breakouts happen
-- at some thresholds and not at others. Runs on ClickHouse 18.16 and current releases.
DROP TABLE IF EXISTS sweep_demo_bars;

CREATE TABLE sweep_demo_bars
(
    symbol String,
    ts DateTime,
    close Float64,
    volume Float64
)
ENGINE = MergeTree
ORDER BY (symbol, ts);

INSERT INTO sweep_demo_bars
SELECT
    symbol,
    toDateTime('2024-01-01 00:00:00') + n * 60 AS ts,
    base * (1
        + 0.06 * sin(n / (90 + 30 * k))
        + 0.025 * sin(n / (11 + k))
        + 0.004 * ((intHash64(n * 7 + k) % 2001) / 1000 - 1)) AS close,
    100 + (intHash64(n * 13 + k) % 900) AS volume
FROM
(
    SELECT
        number AS n,
        arrayJoin([(0, 'BTCUSDT', 60000.), (1, 'ETHUSDT', 3000.), (2, 'SOLUSDT', 150.)]) AS s,
        s.1 AS k,
        s.2 AS symbol,
        s.3 AS base
    FROM numbers(6000)
);
