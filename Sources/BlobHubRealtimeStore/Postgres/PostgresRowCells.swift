import PostgresNIO

/// A row's columns decoded one cell at a time, in column order.
///
/// PostgresNIO's `row.decode((A, B, …).self)` decodes a parameter pack: it looks up generic metadata at run time
/// on every row, which the profile of a busy node showed as most of its row decoding. Decoding each cell as its
/// own concrete type is specialized at compile time.
struct PostgresRowCells {
    private var cells: PostgresRow.Iterator

    init(_ row: PostgresRow) {
        cells = row.makeIterator()
    }

    mutating func next<T: PostgresDecodable>(_: T.Type = T.self) throws -> T {
        guard let cell = cells.next() else { throw StoreError.corrupt("a row has fewer columns than the statement selects") }
        return try cell.decode(T.self)
    }
}
