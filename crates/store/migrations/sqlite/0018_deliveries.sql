-- Webhook deliveries accepted from service desks and chat (issue 14): a
-- replayed delivery (same source, same id) is refused, because its INSERT
-- fails inside the change that would act on it. Rows older than the memory
-- window are deleted as new ones arrive (received_at, milliseconds).
CREATE TABLE deliveries (
    source      TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (source, delivery_id)
);
CREATE INDEX deliveries_by_age ON deliveries (received_at);
