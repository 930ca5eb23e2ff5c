/// Schema version 3: offsets from a sequence, appends that hold no lock to COMMIT, and the watermark that
/// keeps readers in offset order (docs/cluster.md, "Offsets and the watermark").
///
/// * An append (`blobhub_append_v3`) first gets its transaction id, then takes one offset per new event from
///   `blobhub_offsets` and inserts. Nothing is locked: appends of every node run and flush concurrently, and
///   PostgreSQL's WAL group commit merges their flushes. Offsets are therefore taken in one order and may
///   commit in another, and a rolled-back append leaves its offsets unused.
/// * A reader may only hand out offsets below which nothing can still commit: the *watermark*. A probe
///   (`blobhub_probe_v3`) reads the last offset taken, then — strictly after — the transaction ids of this
///   store's writers that are running (from the lock table: a transaction holds the lock on its own id). Any append holding an offset at or below that value got its id before it took the offset, so
///   it is in that list unless it has already ended. Once none of those transactions runs any more
///   (`blobhub_settled_v3`), every offset up to the probed value is either committed — and visible to any
///   statement that starts now — or never will be: the probed value is the new watermark. The tailer does a
///   probe, the check of its previous probe and the read in one call (`blobhub_tail_v3`).
/// * Writers are recognized by a shared advisory lock their sessions hold, so a long transaction of some other
///   program sharing the database cannot hold the watermark back.
enum PostgresLogFunctions {
    /// The prefix of `application_name` of every pool session (operators see the nodes' sessions by it).
    static let applicationNamePrefix = "blobhub-realtime"
    /// The advisory lock class (first key) that marks a session as one of the store's writers.
    static let writerLockClass: Int32 = 0x626C_6F62  // "blob"

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
                                                     p_probe boolean)
        RETURNS TABLE (event_id text, event_offset bigint, stored boolean, pending text[]) LANGUAGE plpgsql AS $fn$
        DECLARE
            v_taken bigint;
        BEGIN
            -- Marks the session as one of the store's writers (held until it disconnects; taken again, it only
            -- counts up in the session), then the transaction id, then the offsets: a probe that sees an offset
            -- taken sees this transaction running, unless it ended.
            PERFORM pg_try_advisory_lock_shared(\(writerLockClass), 1);
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
            )
            -- No pg_notify here: notifying transactions commit one at a time (``CommitNotifier``).
            SELECT x.id, x.log_offset, false, NULL::text[] FROM existing x
            UNION ALL SELECT p.id, p.log_offset, true, NULL::text[] FROM placed p;
            IF p_probe THEN
                -- A probe taken after this append's offsets (the other writers; this transaction ends with the
                -- statement): once it settles, the watermark covers this append (``PostgresTailer/offer(_:)``).
                v_taken := blobhub_taken_v3();
                RETURN QUERY SELECT NULL::text, v_taken, NULL::boolean, blobhub_running_v3();
            END IF;
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
        // The store's writers with a transaction id, as `pid:xid`, from one reading of the lock table: a writer
        // session holds the shared advisory lock (class, 1) in this database, and every transaction with an id
        // holds the lock on that id until its end is visible to new snapshots. (`pg_stat_activity` would do too,
        // but reading it spins on any backend preempted while updating its status: milliseconds on a busy host.)
        """
        CREATE OR REPLACE FUNCTION blobhub_running_v3() RETURNS text[] LANGUAGE sql AS $fn$
            WITH locks AS MATERIALIZED (SELECT * FROM pg_locks WHERE granted),
            writers AS (
                SELECT l.pid FROM locks l
                WHERE l.locktype = 'advisory' AND l.classid = \(writerLockClass) AND l.objid = 1 AND l.objsubid = 2
                  AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
            )
            SELECT coalesce(array_agg(t.pid::text || ':' || t.transactionid::text), '{}') FROM locks t
            WHERE t.locktype = 'transactionid' AND t.mode = 'ExclusiveLock' AND t.pid <> pg_backend_pid()
              AND t.pid IN (SELECT w.pid FROM writers w)
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
            -- After the offset taken; the previous probe's transactions are checked against the same reading,
            -- which is later than that probe.
            v_pending := blobhub_running_v3();
            IF cardinality(v_pending) = 0 THEN
                v_watermark := v_taken;
            ELSIF p_prev_taken IS NOT NULL AND NOT (v_pending && p_prev_pending) THEN
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
