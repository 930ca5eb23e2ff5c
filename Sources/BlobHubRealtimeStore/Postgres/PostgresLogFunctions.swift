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
            SELECT coalesce(pg_sequence_last_value('blobhub_offsets'), 0)
        $fn$
        """,
        """
        CREATE OR REPLACE FUNCTION blobhub_append_v3(p_ids text[], p_types text[], p_created bigint[], p_keys text[],
                                                     p_jsons bytea[], p_key_rows text[], p_key_ordinals bigint[])
        RETURNS TABLE (event_id text, event_offset bigint, stored boolean) LANGUAGE plpgsql AS $fn$
        DECLARE
            v_fresh integer[];   -- input positions of the ids not stored yet, ascending
            v_offsets bigint[];  -- their offsets, ascending
            v_by_n bigint[];     -- input position -> offset (null: already stored)
        BEGIN
            -- Marks the session as one of the store's writers (held until it disconnects; taken again, it only
            -- counts up in the session), then the transaction id, then the offsets: a probe that sees an offset
            -- taken sees this transaction running, unless it ended.
            PERFORM pg_try_advisory_lock_shared(\(writerLockClass), 1);
            PERFORM pg_current_xact_id();
            RETURN QUERY SELECT x.id, x.log_offset, false FROM (\(idLookup)) x;
            -- Arrays and subscripts, no joins: a join of the batch with itself costs quadratic time.
            v_fresh := ARRAY(SELECT t.n::integer FROM unnest(p_ids) WITH ORDINALITY AS t(id, n)
                             WHERE NOT EXISTS (SELECT 1 FROM blobhub_events e WHERE e.id = t.id) ORDER BY t.n);
            IF cardinality(v_fresh) > 0 THEN
                -- Sorted: the batch's events get ascending offsets in input order.
                v_offsets := ARRAY(SELECT o FROM (SELECT nextval('blobhub_offsets') AS o
                                                  FROM generate_series(1, cardinality(v_fresh))) s ORDER BY o);
                v_by_n := array_fill(NULL::bigint, ARRAY[cardinality(p_ids)]);
                FOR i IN 1 .. cardinality(v_fresh) LOOP
                    v_by_n[v_fresh[i]] := v_offsets[i];
                END LOOP;
                INSERT INTO blobhub_events (log_offset, id, type, created_at, keys, json)
                    SELECT v_by_n[t.n::integer], t.id, t.type, t.created_at, t.keys, t.json
                    FROM unnest(p_ids, p_types, p_created, p_keys, p_jsons) WITH ORDINALITY AS t(id, type, created_at, keys, json, n)
                    WHERE v_by_n[t.n::integer] IS NOT NULL;
                INSERT INTO blobhub_event_keys (key, log_offset)
                    SELECT k.key, v_by_n[k.n::integer] FROM unnest(p_key_rows, p_key_ordinals) AS k(key, n)
                    WHERE v_by_n[k.n::integer] IS NOT NULL;
                -- No pg_notify here: notifying transactions commit one at a time (``CommitNotifier``).
                RETURN QUERY SELECT p_ids[v_fresh[i]], v_offsets[i], true FROM generate_subscripts(v_fresh, 1) AS i;
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
        CREATE OR REPLACE FUNCTION blobhub_running_v3() RETURNS text[] LANGUAGE plpgsql AS $fn$
        BEGIN
            -- PL/pgSQL: the plan is made once per session (a SQL function's is made on every call).
            RETURN ARRAY(
                WITH locks AS MATERIALIZED (SELECT l.locktype, l.classid, l.objid, l.objsubid, l.database, l.mode,
                                                   l.pid, l.transactionid FROM pg_locks l WHERE l.granted),
                writers AS (
                    SELECT w.pid FROM locks w
                    WHERE w.locktype = 'advisory' AND w.classid = \(writerLockClass) AND w.objid = 1 AND w.objsubid = 2
                      AND w.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
                )
                SELECT t.pid::text || ':' || t.transactionid::text FROM locks t
                WHERE t.locktype = 'transactionid' AND t.mode = 'ExclusiveLock' AND t.pid <> pg_backend_pid()
                  AND t.pid IN (SELECT w.pid FROM writers w));
        END
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
        tailFunction(name: "blobhub_tail_v3", extraParameters: "", notifies: false, skipsHeld: false),
    ]

    /// Schema version 4: the tailer's round also announces this node's commits (``CommitNotifier``), so a busy
    /// node sends no notification statement of its own. `p_notify` null: no notification.
    static let notifyingTailMigration: [String] = [
        """
        CREATE OR REPLACE FUNCTION blobhub_tail_v4(p_after bigint, p_prev_taken bigint, p_prev_pending text[], p_limit integer,
                                                   p_notify text)
        RETURNS TABLE (watermark bigint, taken bigint, pending text[], registry_version bigint,
                       log_offset bigint, id text, type text, created_at bigint, keys text, json bytea)
        LANGUAGE plpgsql AS $fn$
        BEGIN
        \(announceStatements)
            RETURN QUERY SELECT * FROM blobhub_tail_v3(p_after, p_prev_taken, p_prev_pending, p_limit);
        END
        $fn$
        """,
    ]

    /// Schema version 5: the same append (`blobhub_append_v3`, same arguments, rows and guarantees) in fewer
    /// statements when no id of the group is stored yet, the usual case: the writer mark and the transaction id in
    /// one statement, and no second lookup of every id to find the new ones (the first lookup found none), so every
    /// event gets the offset of its position. PL/pgSQL runs each statement through the executor, and the database's
    /// CPU per append is mostly that fixed cost.
    static let leanAppendMigration: [String] = [
        """
        CREATE OR REPLACE FUNCTION blobhub_append_v3(p_ids text[], p_types text[], p_created bigint[], p_keys text[],
                                                     p_jsons bytea[], p_key_rows text[], p_key_ordinals bigint[])
        RETURNS TABLE (event_id text, event_offset bigint, stored boolean) LANGUAGE plpgsql AS $fn$
        DECLARE
            v_fresh integer[];   -- input positions of the ids not stored yet, ascending (null: every one)
            v_offsets bigint[];  -- their offsets, ascending
            v_by_n bigint[];     -- input position -> offset (null: already stored)
        BEGIN
            -- The writer mark (held until the session ends), then the transaction id, then the offsets: a probe
            -- that sees an offset taken sees this transaction running, unless it ended. One statement evaluates
            -- its target list in order.
            PERFORM pg_try_advisory_lock_shared(\(writerLockClass), 1), pg_current_xact_id();
            RETURN QUERY SELECT x.id, x.log_offset, false FROM (\(idLookup)) x;
            IF FOUND THEN
                -- Arrays and subscripts, no joins: a join of the batch with itself costs quadratic time.
                v_fresh := ARRAY(SELECT t.n::integer FROM unnest(p_ids) WITH ORDINALITY AS t(id, n)
                                 WHERE NOT EXISTS (SELECT 1 FROM blobhub_events e WHERE e.id = t.id) ORDER BY t.n);
                IF cardinality(v_fresh) = 0 THEN RETURN; END IF;
            END IF;
            -- Sorted: the batch's events get ascending offsets in input order.
            v_offsets := ARRAY(SELECT o FROM (SELECT nextval('blobhub_offsets') AS o
                                              FROM generate_series(1, coalesce(cardinality(v_fresh), cardinality(p_ids)))) s
                               ORDER BY o);
            IF v_fresh IS NULL THEN
                v_by_n := v_offsets;
            ELSE
                v_by_n := array_fill(NULL::bigint, ARRAY[cardinality(p_ids)]);
                FOR i IN 1 .. cardinality(v_fresh) LOOP
                    v_by_n[v_fresh[i]] := v_offsets[i];
                END LOOP;
            END IF;
            INSERT INTO blobhub_events (log_offset, id, type, created_at, keys, json)
                SELECT v_by_n[t.n::integer], t.id, t.type, t.created_at, t.keys, t.json
                FROM unnest(p_ids, p_types, p_created, p_keys, p_jsons) WITH ORDINALITY AS t(id, type, created_at, keys, json, n)
                WHERE v_by_n[t.n::integer] IS NOT NULL;
            INSERT INTO blobhub_event_keys (key, log_offset)
                SELECT k.key, v_by_n[k.n::integer] FROM unnest(p_key_rows, p_key_ordinals) AS k(key, n)
                WHERE v_by_n[k.n::integer] IS NOT NULL;
            RETURN QUERY SELECT p_ids[n], v_by_n[n], true FROM generate_subscripts(p_ids, 1) AS n WHERE v_by_n[n] IS NOT NULL;
        END
        $fn$
        """,
    ]

    /// Schema version 6: the tailer's round skips the events this node holds in memory (committed by its own writer,
    /// waiting in ``DeliverySequencer`` behind an earlier offset another node had not committed yet), `p_held` being
    /// their offsets. Measured before it: 2.95 rows read per event published on three nodes, nearly every event read
    /// back by the node that wrote it. Announcement, probe, watermark and read are version 4's (the same body,
    /// ``tailFunction(name:extraParameters:notifies:skipsHeld:)``), so the argument that keeps readers in offset order
    /// is unchanged; the node adds the held events to what the round read (``PostgresTailer``).
    static let heldSkippingTailMigration: [String] = [
        tailFunction(name: "blobhub_tail_v6", extraParameters: ", p_notify text, p_held bigint[]", notifies: true, skipsHeld: true),
    ]

    /// The announcement a round sends first (versions 4 and 6), when `p_notify` is not null.
    static let announceStatements = """
        IF p_notify IS NOT NULL THEN
            -- The notification makes this transaction take an id and write a commit record; nothing here needs
            -- that record flushed, and the round (the tailer's delivery) must not wait for an fsync.
            PERFORM set_config('synchronous_commit', 'off', true);
            PERFORM pg_notify('\(PostgresListener.channel)', p_notify);
        END IF;
        """

    /// A tailer round's function (`blobhub_tail_v3`, `blobhub_tail_v6`): optionally the announcement (version 4's), the
    /// probe, the watermark, and the read, optionally without the offsets `p_held`. One body, not a call of the older
    /// function: each PL/pgSQL level materializes its rows again (measured: the nested version 6 cost 0.74–0.76 ms
    /// per round against 0.66–0.72 ms for version 4, although it read fewer rows).
    static func tailFunction(name: String, extraParameters: String, notifies: Bool, skipsHeld: Bool) -> String {
        let announce = notifies ? announceStatements : ""
        let heldFilter = skipsHeld ? "\n                  AND e.log_offset <> ALL (coalesce(p_held, '{}'::bigint[]))" : ""
        return """
            CREATE OR REPLACE FUNCTION \(name)(p_after bigint, p_prev_taken bigint, p_prev_pending text[], p_limit integer\(extraParameters))
            RETURNS TABLE (watermark bigint, taken bigint, pending text[], registry_version bigint,
                           log_offset bigint, id text, type text, created_at bigint, keys text, json bytea)
            LANGUAGE plpgsql AS $fn$
            DECLARE
                v_taken bigint;
                v_pending text[];
                v_watermark bigint := NULL;
            BEGIN
            \(announce)
                v_taken := blobhub_taken_v3();
                IF v_taken <= p_after AND p_prev_taken IS NULL THEN
                    -- Nothing taken after what the caller has: no reading of the lock table needed.
                    RETURN QUERY SELECT p_after, v_taken, '{}'::text[],
                        (SELECT c.value FROM blobhub_counters c WHERE c.name = 'registry_version'),
                        NULL::bigint, NULL::text, NULL::text, NULL::bigint, NULL::text, NULL::bytea;
                    RETURN;
                END IF;
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
                        FROM blobhub_events e WHERE e.log_offset > p_after AND e.log_offset <= v_watermark\(heldFilter)
                        ORDER BY e.log_offset LIMIT p_limit;
                END IF;
            END
            $fn$
            """
    }
}
