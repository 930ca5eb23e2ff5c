/// Schema version 3: offsets from a sequence, appends that hold no lock to COMMIT, and the watermark that
/// keeps readers in offset order (docs/cluster.md, "Offsets and the watermark").
///
/// * An append (`blobhub_append_v3`) first gets its transaction id, then takes one offset per new event from
///   `blobhub_offsets` and inserts. Nothing is locked: appends of every node run and flush concurrently, and
///   PostgreSQL's WAL group commit merges their flushes. Offsets are therefore taken in one order and may
///   commit in another, and a rolled-back append leaves its offsets unused.
/// * A reader may only hand out offsets below which nothing can still commit: the *watermark*. A probe
///   (`blobhub_probe_v3`) reads the last offset taken, then — strictly after — the transaction ids of this
///   store's sessions that are running (`pg_stat_activity.backend_xid`, live). Any append holding an offset at or below that value got its id before it took the offset, so
///   it is in that list unless it has already ended. Once none of those transactions runs any more
///   (`blobhub_settled_v3`), every offset up to the probed value is either committed — and visible to any
///   statement that starts now — or never will be: the probed value is the new watermark. The tailer does a
///   probe, the check of its previous probe and the read in one call (`blobhub_tail_v3`).
/// * Sessions are recognized by `application_name` (`blobhub-realtime…`, set by every node's pool), so a long
///   transaction of some other program sharing the database cannot hold the watermark back. All nodes must
///   connect as the same role (or one with `pg_read_all_stats`) to see each other's `backend_xid`.
enum PostgresLogFunctions {
    /// The prefix of `application_name` of every pool session (the probe counts only these).
    static let applicationNamePrefix = "blobhub-realtime"

    /// The append's lookup of ids already stored (a test checks its generic plan uses the id index).
    static let idLookup = "SELECT e.id, e.log_offset FROM blobhub_events e WHERE e.id = ANY(p_ids)"

    static let migration: [String] = [
        "CREATE SEQUENCE IF NOT EXISTS blobhub_offsets AS bigint MINVALUE 1",
        // Continue after the offsets assigned under the head row lock (schema versions 1 and 2).
        """
        SELECT setval('blobhub_offsets', greatest(value, 1), value > 0) FROM blobhub_counters WHERE name = 'head'
        """,
        // A node of an older version still running would take offsets under the head row: without the row its
        // appends fail (and it reports unhealthy) instead of colliding with this version's offsets.
        "DELETE FROM blobhub_counters WHERE name = 'head'",
        """
        CREATE OR REPLACE FUNCTION blobhub_taken_v3() RETURNS bigint LANGUAGE sql AS $fn$
            SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END FROM blobhub_offsets s
        $fn$
        """,
        """
        CREATE OR REPLACE FUNCTION blobhub_append_v3(p_ids text[], p_types text[], p_created bigint[], p_keys text[],
                                                     p_jsons bytea[], p_key_rows text[], p_key_ordinals bigint[],
                                                     p_node text)
        RETURNS TABLE (event_id text, event_offset bigint, stored boolean) LANGUAGE plpgsql AS $fn$
        BEGIN
            -- The transaction id before any offset: a probe that sees an offset taken sees this transaction.
            PERFORM pg_current_xact_id();
            RETURN QUERY
            WITH input AS (
                SELECT * FROM unnest(p_ids, p_types, p_created, p_keys, p_jsons)
                    WITH ORDINALITY AS t(id, type, created_at, keys, json, n)
            ), existing AS MATERIALIZED (
                \(idLookup)
            ), fresh AS MATERIALIZED (
                SELECT i.*, row_number() OVER (ORDER BY i.n) AS k FROM input i
                WHERE NOT EXISTS (SELECT 1 FROM existing x WHERE x.id = i.id)
            ), taken AS MATERIALIZED (
                SELECT nextval('blobhub_offsets') AS log_offset FROM fresh
            ), placed AS MATERIALIZED (
                -- Matched by rank: the batch's events get ascending offsets in input order.
                SELECT f.*, t.log_offset FROM fresh f
                JOIN (SELECT log_offset, row_number() OVER (ORDER BY log_offset) AS k FROM taken) t ON t.k = f.k
            ), inserted_events AS (
                INSERT INTO blobhub_events (log_offset, id, type, created_at, keys, json)
                SELECT p.log_offset, p.id, p.type, p.created_at, p.keys, p.json FROM placed p
            ), inserted_keys AS (
                INSERT INTO blobhub_event_keys (key, log_offset)
                SELECT k.key, p.log_offset FROM unnest(p_key_rows, p_key_ordinals) AS k(key, n) JOIN placed p ON p.n = k.n
            ), notified AS (
                SELECT pg_notify('blobhub_realtime', 'e:' || (SELECT max(log_offset) FROM placed) || ':' || p_node)
                WHERE EXISTS (SELECT 1 FROM placed)
            )
            SELECT x.id, x.log_offset, false FROM existing x
            UNION ALL SELECT p.id, p.log_offset, true FROM placed p
            UNION ALL SELECT NULL, NULL, NULL FROM notified;
        END
        $fn$
        """,
        """
        CREATE OR REPLACE FUNCTION blobhub_probe_v3() RETURNS TABLE (taken bigint, pending text[])
        LANGUAGE plpgsql AS $fn$
        DECLARE
            v_taken bigint;
        BEGIN
            v_taken := blobhub_taken_v3();
            RETURN QUERY SELECT v_taken, blobhub_running_v3();
        END
        $fn$
        """,
        // The store's sessions with a transaction id, as `pid:xid`. Read from `pg_stat_activity`, whose
        // `backend_xid` is the session's current one: set when the id is assigned, cleared when the transaction's
        // end becomes visible to new snapshots. Within a transaction the activity is read once, at its first use
        // (and then kept), which is why a probe reads the offset taken before it touches the activity.
        """
        CREATE OR REPLACE FUNCTION blobhub_running_v3() RETURNS text[] LANGUAGE sql AS $fn$
            SELECT coalesce(array_agg(a.pid::text || ':' || a.backend_xid::text), '{}') FROM pg_stat_activity a
            WHERE a.datname = current_database() AND a.backend_xid IS NOT NULL AND a.pid <> pg_backend_pid()
              AND a.application_name LIKE 'blobhub-realtime%'
        $fn$
        """,
        """
        CREATE OR REPLACE FUNCTION blobhub_settled_v3(p_pending text[]) RETURNS boolean LANGUAGE sql AS $fn$
            SELECT NOT (blobhub_running_v3() && p_pending)
        $fn$
        """,
        // One tailer round in one round trip: a new probe; the watermark it allows (the new probe's when nothing
        // ran, else the previous probe's once its transactions ended); the events after `p_after` up to it. The
        // first row carries the figures (event columns null), the others one event each.
        """
        CREATE OR REPLACE FUNCTION blobhub_tail_v3(p_after bigint, p_prev_taken bigint, p_prev_pending text[], p_limit integer)
        RETURNS TABLE (watermark bigint, taken bigint, pending text[], registry_version bigint,
                       log_offset bigint, id text, type text, created_at bigint, keys text, json bytea)
        LANGUAGE plpgsql AS $fn$
        DECLARE
            v_taken bigint;
            v_pending text[];
            v_watermark bigint := NULL;
        BEGIN
            v_taken := blobhub_taken_v3();
            -- The activity is read here, after the offset taken, and kept for the rest of the transaction: the
            -- previous probe's transactions are checked against the same reading, also taken after that probe.
            v_pending := blobhub_running_v3();
            IF cardinality(v_pending) = 0 THEN
                v_watermark := v_taken;
            ELSIF p_prev_taken IS NOT NULL AND blobhub_settled_v3(p_prev_pending) THEN
                v_watermark := p_prev_taken;
            END IF;
            RETURN QUERY SELECT v_watermark, v_taken, v_pending,
                (SELECT c.value FROM blobhub_counters c WHERE c.name = 'registry_version'),
                NULL::bigint, NULL::text, NULL::text, NULL::bigint, NULL::text, NULL::bytea;
            IF v_watermark IS NOT NULL AND v_watermark > p_after THEN
                RETURN QUERY SELECT NULL::bigint, NULL::bigint, NULL::text[], NULL::bigint,
                    e.log_offset, e.id, e.type, e.created_at, e.keys, e.json
                    FROM blobhub_events e WHERE e.log_offset > p_after AND e.log_offset <= v_watermark
                    ORDER BY e.log_offset LIMIT p_limit;
            END IF;
        END
        $fn$
        """,
    ]
}
