/**
 * Error texts below are verbatim captures:
 *  - "18.16": HTTP bodies from Debian 12's clickhouse-server 18.16.1 (the CI server),
 *    captured with curl against the test harness server;
 *  - "chdb": `.message`/`.clickhouseCode` of errors thrown by chdb 3.4 (ClickHouse 26.7);
 *  - "25.8": the current server format as documented and parsed by @clickhouse/client.
 * The live round trip (real server -> EngineError) is in test/integration/engine-*.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { EngineError } from '../../src/engine/engine.js';
import {
  clickHouseErrorName,
  findTrailingServerError,
  httpErrorToEngineError,
  isTransientCode,
  parseServerError,
  redactUrl,
  toEngineError,
} from '../../src/engine/errors.js';

const OLD = {
  syntax:
    'Code: 62, e.displayText() = DB::Exception: Syntax error: failed at position 1: SELEC 1. Expected one of: SYSTEM query, SELECT subquery, DESC, KILL QUERY, DETACH, DROP, ATTACH, list of elements, ALTER query, DESCRIBE query, DROP query, INSERT query, KILL QUERY query, OPTIMIZE query, Query with output, SHOW PROCESSLIST query, RENAME query, SELECT query, SET query, EXISTS or SHOW CREATE query, USE query, SHOW PROCESSLIST, WITH, ALTER TABLE, CHECK TABLE, CREATE, EXISTS, TRUNCATE, INSERT INTO, SELECT, OPTIMIZE TABLE, RENAME TABLE, SET, SHOW, USE, CREATE TABLE or ATTACH TABLE query, SELECT query, possibly with UNION, SHOW [TEMPORARY] TABLES|DATABASES [[NOT] LIKE \'str\'], SELECT query, subquery, possibly with UNION, DESCRIBE, Query, e.what() = DB::Exception\n',
  // The rest of the query, quoted by the server: a newline, a backslash escape and double quotes.
  syntaxMultiline:
    'Code: 62, e.displayText() = DB::Exception: Syntax error: failed at position 53 (line 2, col 7): \'a\\tb "q"\'\n x. Expected one of: AS, UNION ALL, Comma, Dot, Arrow, QuestionMark, token, OR, BETWEEN, IS, SETTINGS, FORMAT, INTO OUTFILE, LIMIT, NOT LIKE, LIKE, GLOBAL IN, IN, GLOBAL NOT IN, NOT IN, AND, alias, e.what() = DB::Exception\n',
  unknownTable: "Code: 60, e.displayText() = DB::Exception: Table default.nope doesn't exist., e.what() = DB::Exception\n",
  typeMismatch:
    'Code: 53, e.displayText() = DB::Exception: Type mismatch in IN or VALUES section. Expected: UInt8. Got: String, e.what() = DB::Exception\n',
  illegalType:
    'Code: 43, e.displayText() = DB::Exception: Illegal types UInt8 and String of arguments of function plus, e.what() = DB::Exception\n',
  unknownIdentifier:
    'Code: 47, e.displayText() = DB::Exception: Unknown identifier: x. Note that there is no tables (FROM clause) in your query, e.what() = DB::Exception\n',
  unknownFunction: 'Code: 46, e.displayText() = DB::Exception: Unknown function nofunc, e.what() = DB::Exception\n',
  memory:
    'Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded: would use 2.00 MiB (attempt to allocate chunk of 4096 bytes), maximum: 1000.00 B, e.what() = DB::Exception\n',
  timeout:
    'Code: 159, e.displayText() = DB::Exception: Timeout exceeded: elapsed 1.000000042 seconds, maximum: 1, e.what() = DB::Exception\n',
  cancelled: 'Code: 394, e.displayText() = DB::Exception: Query was cancelled, e.what() = DB::Exception\n',
  sessionNotFound: 'Code: 372, e.displayText() = DB::Exception: Session not found., e.what() = DB::Exception\n',
  unknownUser: 'Code: 192, e.displayText() = DB::Exception: Unknown user nobody, e.what() = DB::Exception\n',
  resultLimit:
    'Code: 396, e.displayText() = DB::Exception: Limit for result exceeded, max rows: 5.00 thousand, current rows: 6.00 thousand, e.what() = DB::Exception\n',
};

const CHDB = {
  syntax: {
    clickhouseCode: 62,
    code: 'CHDB_SYNTAX',
    message:
      'Code: 62. DB::Exception: Syntax error: failed at position 7 (1): 1. Expected one of: token sequence, Dot, token, OR, AND, IS NOT DISTINCT FROM, IS DISTINCT FROM, IS NOT UNKNOWN, IS UNKNOWN, IS NOT FALSE, IS FALSE, IS NOT TRUE, IS TRUE, IS NULL, IS NOT NULL, BETWEEN, NOT BETWEEN, LIKE, ILIKE, NOT LIKE, NOT ILIKE, REGEXP, IN, NOT IN, GLOBAL IN, GLOBAL NOT IN, AT TIME ZONE, MOD, DIV, alias, AS, identifier, Comma, FROM, PREWHERE, WHERE, GROUP BY, WITH, HAVING, WINDOW, QUALIFY, ORDER BY, LIMIT, OFFSET, FETCH, SETTINGS, end of query. (SYNTAX_ERROR)',
  },
  unknownTable: {
    clickhouseCode: 60,
    code: 'CHDB_QUERY',
    message:
      "Code: 60. DB::Exception: Unknown table expression identifier 'nope' in scope SELECT * FROM nope. Maybe you meant system.one?. (UNKNOWN_TABLE)",
  },
  typeMismatch: {
    clickhouseCode: 53,
    code: 'CHDB_QUERY',
    message: "Code: 53. DB::Exception: Cannot convert string 'a' to type UInt8. (TYPE_MISMATCH)",
  },
  throwIf: {
    clickhouseCode: 395,
    code: 'CHDB_QUERY',
    message:
      "Code: 395. DB::Exception: tab\there\nnl \"dq\" é: while executing 'FUNCTION throwIf(1_UInt8 :: 1, 'tab\\there\\nnl \"dq\" é'_String :: 2) -> throwIf(1_UInt8, 'tab\\there\\nnl \"dq\" é'_String) UInt8 : 3'. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO)",
  },
  memory: {
    clickhouseCode: 241,
    code: 'CHDB_QUERY',
    message:
      'Code: 241. DB::Exception: Query memory limit exceeded: would use 516.01 KiB (attempt to allocate chunk of 0.00 B), maximum: 1000.00 B. Untracked memory across all threads: 731.30 KiB: While executing AggregatingTransform. (MEMORY_LIMIT_EXCEEDED)',
  },
};

const NEW = {
  syntax:
    "Code: 62. DB::Exception: Syntax error: failed at position 1 ('SELEC'): SELEC 1. Expected one of: Query, Query with output, EXPLAIN, SELECT query, possibly with UNION, list of union elements, SELECT query, subquery, possibly with UNION, SELECT subquery, SELECT query, WITH, FROM, SELECT. (SYNTAX_ERROR) (version 25.8.1.8344 (official build))\n",
  memory:
    'Code: 241. DB::Exception: Query memory limit exceeded: would use 9.32 GiB (attempt to allocate chunk of 4.00 MiB bytes), current RSS: 9.87 GiB, maximum: 9.31 GiB. OvercommitTracker decision: Query was selected to stop by OvercommitTracker: While executing AggregatingTransform. (MEMORY_LIMIT_EXCEEDED) (version 25.8.1.8344 (official build))\n',
  unlisted: 'Code: 650. DB::Exception: Something rare. (SERIALIZATION_ERROR) (version 25.8.1.8344 (official build))',
};

function chdbError(e: { clickhouseCode: number; code: string; message: string }): Error {
  return Object.assign(new Error(e.message), { clickhouseCode: e.clickhouseCode, code: e.code });
}

describe('parseServerError', () => {
  it('reads 18.16 bodies: code, name and the whole message without the trailing newline', () => {
    const cases: Array<[string, number, string]> = [
      [OLD.syntax, 62, 'SYNTAX_ERROR'],
      [OLD.unknownTable, 60, 'UNKNOWN_TABLE'],
      [OLD.typeMismatch, 53, 'TYPE_MISMATCH'],
      [OLD.illegalType, 43, 'ILLEGAL_TYPE_OF_ARGUMENT'],
      [OLD.unknownIdentifier, 47, 'UNKNOWN_IDENTIFIER'],
      [OLD.unknownFunction, 46, 'UNKNOWN_FUNCTION'],
      [OLD.memory, 241, 'MEMORY_LIMIT_EXCEEDED'],
      [OLD.timeout, 159, 'TIMEOUT_EXCEEDED'],
      [OLD.cancelled, 394, 'QUERY_WAS_CANCELLED'],
      [OLD.unknownUser, 192, 'UNKNOWN_USER'],
    ];
    for (const [text, code, name] of cases) {
      expect(parseServerError(text)).toEqual({ code, name, message: text.slice(0, -1) });
    }
  });

  it('keeps newlines, tabs, quotes and backslashes inside the message', () => {
    const parsed = parseServerError(OLD.syntaxMultiline);
    expect(parsed?.message).toBe(OLD.syntaxMultiline.slice(0, -1));
    expect(parsed?.message).toContain('\'a\\tb "q"\'\n x.');
  });

  it('reads the current format, taking the name from the message when the table lacks the code', () => {
    expect(parseServerError(NEW.syntax)).toEqual({ code: 62, name: 'SYNTAX_ERROR', message: NEW.syntax.trimEnd() });
    expect(parseServerError(NEW.unlisted)).toEqual({ code: 650, name: 'SERIALIZATION_ERROR', message: NEW.unlisted });
    expect(parseServerError(CHDB.throwIf.message)?.name).toBe('FUNCTION_THROW_IF_VALUE_IS_NON_ZERO');
  });

  it('returns undefined for text without a leading code', () => {
    expect(parseServerError('<html>502 Bad Gateway</html>')).toBeUndefined();
    expect(parseServerError('')).toBeUndefined();
    expect(parseServerError('Error: Code: 62, later in the text')).toBeUndefined();
  });

  it('names unknown codes without inventing a meaning', () => {
    expect(clickHouseErrorName(62)).toBe('SYNTAX_ERROR');
    expect(clickHouseErrorName(9999)).toBe('CLICKHOUSE_ERROR_9999');
  });
});

describe('findTrailingServerError', () => {
  it('finds an exception the server appended to a result it had started streaming', () => {
    // 18.16 glues it to the partial JSON document.
    const body = `{\n\t"meta": [],\n\t"data":\n\t[\n\t\t{\n\t\t\t"number": "0"\n\t\t}${OLD.resultLimit}`;
    expect(findTrailingServerError(body)).toEqual({
      code: 396,
      name: 'TOO_MANY_ROWS_OR_BYTES',
      message: OLD.resultLimit.trimEnd(),
    });
  });

  it('ignores "Code: " that does not start an exception', () => {
    expect(findTrailingServerError('{"s":"Code: 1, hello"')).toBeUndefined();
  });
});

describe('transient or permanent', () => {
  it('follows the retry policy: overload, memory, timeouts and network codes are transient', () => {
    for (const code of [202, 241, 159, 209, 210, 394, 745]) expect(isTransientCode(code)).toBe(true);
    for (const code of [62, 47, 60, 16, 53, 43, 46, 3, 396]) expect(isTransientCode(code)).toBe(false);
  });

  it('classifies HTTP responses by code, and by status when the body has none', () => {
    const syntax = httpErrorToEngineError(400, OLD.syntax);
    expect([syntax.code, syntax.codeName, syntax.transient]).toEqual([62, 'SYNTAX_ERROR', false]);
    const memory = httpErrorToEngineError(500, OLD.memory);
    expect([memory.code, memory.codeName, memory.transient]).toEqual([241, 'MEMORY_LIMIT_EXCEEDED', true]);
    const typeMismatch = httpErrorToEngineError(500, OLD.illegalType);
    expect(typeMismatch.transient).toBe(false); // a 500 with a code is judged by the code

    const gateway = httpErrorToEngineError(502, '<html><body>502 Bad Gateway</body></html>\n');
    expect([gateway.code, gateway.codeName, gateway.transient]).toEqual([undefined, 'HTTP_502', true]);
    expect(gateway.message).toBe('HTTP 502: <html><body>502 Bad Gateway</body></html>');
    const empty = httpErrorToEngineError(503, '');
    expect([empty.codeName, empty.transient, empty.message]).toEqual(['HTTP_503', true, 'HTTP 503: HTTP 503 with an empty body']);
    const notFound = httpErrorToEngineError(404, 'Not found');
    expect([notFound.codeName, notFound.transient]).toEqual(['HTTP_404', false]);
    const byHeader = httpErrorToEngineError(500, 'something odd', '202');
    expect([byHeader.code, byHeader.codeName, byHeader.transient]).toEqual([202, 'TOO_MANY_SIMULTANEOUS_QUERIES', true]);
  });
});

describe('toEngineError', () => {
  it('parses the plain Error @clickhouse/client throws for 18.16 (no .code)', () => {
    const e = toEngineError(new Error(OLD.unknownTable));
    expect(e).toBeInstanceOf(EngineError);
    expect([e.code, e.codeName, e.transient]).toEqual([60, 'UNKNOWN_TABLE', false]);
    expect(e.message).toBe(OLD.unknownTable.trimEnd());
    const expired = toEngineError(new Error(OLD.sessionNotFound));
    expect([expired.code, expired.codeName, expired.transient]).toEqual([372, 'SESSION_NOT_FOUND', true]);
  });

  it("takes @clickhouse/client's ClickHouseError (current servers) at its word", () => {
    // Shape of the client's ClickHouseError after parsing NEW.memory: code as a string, type, stripped message.
    const clientError = Object.assign(new Error('Query memory limit exceeded: would use 9.32 GiB'), {
      code: '241',
      type: 'MEMORY_LIMIT_EXCEEDED',
    });
    const e = toEngineError(clientError);
    expect([e.code, e.codeName, e.transient]).toEqual([241, 'MEMORY_LIMIT_EXCEEDED', true]);
    expect(toEngineError(new Error(NEW.syntax)).codeName).toBe('SYNTAX_ERROR');
  });

  it('uses chdb errors\' clickhouseCode and keeps their message whole', () => {
    const syntax = toEngineError(chdbError(CHDB.syntax));
    expect([syntax.code, syntax.codeName, syntax.transient]).toEqual([62, 'SYNTAX_ERROR', false]);
    expect(syntax.message).toBe(CHDB.syntax.message);
    expect(toEngineError(chdbError(CHDB.unknownTable)).codeName).toBe('UNKNOWN_TABLE');
    expect(toEngineError(chdbError(CHDB.typeMismatch)).codeName).toBe('TYPE_MISMATCH');
    const memory = toEngineError(chdbError(CHDB.memory));
    expect([memory.code, memory.transient]).toEqual([241, true]);
    const throwIf = toEngineError(chdbError(CHDB.throwIf));
    expect(throwIf.message).toBe(CHDB.throwIf.message);
    expect(throwIf.message).toContain('tab\there\nnl "dq" é');
  });

  it('marks connection trouble transient and names it by its socket code', () => {
    const refused = toEngineError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }));
    expect([refused.code, refused.codeName, refused.transient]).toEqual([undefined, 'ECONNREFUSED', true]);
    for (const code of ['ECONNRESET', 'EPIPE', 'ETIMEDOUT']) {
      expect(toEngineError(Object.assign(new Error(code), { code })).transient).toBe(true);
    }
    const hangUp = toEngineError(new Error('socket hang up'));
    expect([hangUp.codeName, hangUp.transient]).toEqual(['ECONNRESET', true]);
    expect(toEngineError(new Error('Timeout error.')).codeName).toBe('REQUEST_TIMEOUT');
    const dns = toEngineError(Object.assign(new Error('getaddrinfo ENOTFOUND nohost'), { code: 'ENOTFOUND' }));
    expect([dns.codeName, dns.transient]).toEqual(['ENOTFOUND', false]);
  });

  it('reports aborts as ABORTED, not as a failure to retry', () => {
    const fromSignal = toEngineError(new DOMException('This operation was aborted', 'AbortError'));
    expect([fromSignal.codeName, fromSignal.transient]).toEqual(['ABORTED', false]);
    const fromChdb = toEngineError(Object.assign(new Error('Query aborted'), { code: 'CHDB_ABORT' }));
    expect(fromChdb.codeName).toBe('ABORTED');
  });

  it('passes EngineErrors through and wraps non-errors', () => {
    const original = new EngineError('x', { codeName: 'X', transient: true });
    expect(toEngineError(original)).toBe(original);
    expect(toEngineError('boom').message).toBe('boom');
  });
});

describe('redactUrl', () => {
  it('removes user, password and credential parameters', () => {
    expect(redactUrl('http://alice:s3cret@db.example:8123/path?database=x')).toBe('http://db.example:8123/path?database=x');
    expect(redactUrl('https://h:8443/?user=bob&password=s3cret')).toBe('https://h:8443/?user=***&password=***');
    expect(redactUrl('not a url //alice:s3cret@host')).not.toContain('s3cret');
  });
});
