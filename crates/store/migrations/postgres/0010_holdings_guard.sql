-- One row per subject whose holdings a separation-of-duties check has read:
-- every change that relies on such a check bumps the version it read, so two
-- changes that each checked the subject's holdings without seeing the other
-- (the two halves of a toxic pair approved at once, on one node or two)
-- cannot both commit: the second fails its compare-and-swap and is retried
-- against holdings that now include the first.
CREATE TABLE holdings_guards (
    subject TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
