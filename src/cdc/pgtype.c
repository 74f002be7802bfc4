/*
 * cdc/pgtype: see pgtype.h. Owns the table of built-in types, sorted by
 * OID for a binary search (values are converted per change, so the lookup
 * is on the hot path). It must never be edited out of OID order.
 */
#include "cdc/pgtype.h"

#include <stddef.h>
#include <string.h>

/* Every base, range and multirange type of PostgreSQL 15's pg_type below
 * FirstGenbkiObjectId (10000; pgoutput sends TYPE messages for everything
 * else), with their array types, sorted by OID for bsearch. From
 * "select oid, typname, typelem from pg_type where oid < 10000 and typtype
 * in ('b','r','m')", minus arrays of catalog row types. */
static const pgtype_t BUILTINS[] = {
    {16, 0, PGTYPE_BOOL, "bool"},
    {17, 0, PGTYPE_STRING, "bytea"},
    {18, 0, PGTYPE_STRING, "char"},
    {19, 0, PGTYPE_STRING, "name"},
    {20, 0, PGTYPE_NUM, "int8"},
    {21, 0, PGTYPE_NUM, "int2"},
    {22, 21, PGTYPE_VECTOR, "int2vector"},
    {23, 0, PGTYPE_NUM, "int4"},
    {24, 0, PGTYPE_STRING, "regproc"},
    {25, 0, PGTYPE_STRING, "text"},
    {26, 0, PGTYPE_STRING, "oid"},
    {27, 0, PGTYPE_STRING, "tid"},
    {28, 0, PGTYPE_STRING, "xid"},
    {29, 0, PGTYPE_STRING, "cid"},
    {30, 26, PGTYPE_VECTOR, "oidvector"},
    {114, 0, PGTYPE_JSON, "json"},
    {142, 0, PGTYPE_STRING, "xml"},
    {143, 142, PGTYPE_ARRAY, "_xml"},
    {194, 0, PGTYPE_STRING, "pg_node_tree"},
    {199, 114, PGTYPE_ARRAY, "_json"},
    {271, 5069, PGTYPE_ARRAY, "_xid8"},
    {600, 0, PGTYPE_STRING, "point"},
    {601, 0, PGTYPE_STRING, "lseg"},
    {602, 0, PGTYPE_STRING, "path"},
    {603, 0, PGTYPE_STRING, "box"},
    {604, 0, PGTYPE_STRING, "polygon"},
    {628, 0, PGTYPE_STRING, "line"},
    {629, 628, PGTYPE_ARRAY, "_line"},
    {650, 0, PGTYPE_STRING, "cidr"},
    {651, 650, PGTYPE_ARRAY, "_cidr"},
    {700, 0, PGTYPE_FLOAT, "float4"},
    {701, 0, PGTYPE_FLOAT, "float8"},
    {718, 0, PGTYPE_STRING, "circle"},
    {719, 718, PGTYPE_ARRAY, "_circle"},
    {774, 0, PGTYPE_STRING, "macaddr8"},
    {775, 774, PGTYPE_ARRAY, "_macaddr8"},
    {790, 0, PGTYPE_STRING, "money"},
    {791, 790, PGTYPE_ARRAY, "_money"},
    {829, 0, PGTYPE_STRING, "macaddr"},
    {869, 0, PGTYPE_STRING, "inet"},
    {1000, 16, PGTYPE_ARRAY, "_bool"},
    {1001, 17, PGTYPE_ARRAY, "_bytea"},
    {1002, 18, PGTYPE_ARRAY, "_char"},
    {1003, 19, PGTYPE_ARRAY, "_name"},
    {1005, 21, PGTYPE_ARRAY, "_int2"},
    {1006, 22, PGTYPE_ARRAY, "_int2vector"},
    {1007, 23, PGTYPE_ARRAY, "_int4"},
    {1008, 24, PGTYPE_ARRAY, "_regproc"},
    {1009, 25, PGTYPE_ARRAY, "_text"},
    {1010, 27, PGTYPE_ARRAY, "_tid"},
    {1011, 28, PGTYPE_ARRAY, "_xid"},
    {1012, 29, PGTYPE_ARRAY, "_cid"},
    {1013, 30, PGTYPE_ARRAY, "_oidvector"},
    {1014, 1042, PGTYPE_ARRAY, "_bpchar"},
    {1015, 1043, PGTYPE_ARRAY, "_varchar"},
    {1016, 20, PGTYPE_ARRAY, "_int8"},
    {1017, 600, PGTYPE_ARRAY, "_point"},
    {1018, 601, PGTYPE_ARRAY, "_lseg"},
    {1019, 602, PGTYPE_ARRAY, "_path"},
    {1020, 603, PGTYPE_ARRAY, "_box"},
    {1021, 700, PGTYPE_ARRAY, "_float4"},
    {1022, 701, PGTYPE_ARRAY, "_float8"},
    {1027, 604, PGTYPE_ARRAY, "_polygon"},
    {1028, 26, PGTYPE_ARRAY, "_oid"},
    {1033, 0, PGTYPE_STRING, "aclitem"},
    {1034, 1033, PGTYPE_ARRAY, "_aclitem"},
    {1040, 829, PGTYPE_ARRAY, "_macaddr"},
    {1041, 869, PGTYPE_ARRAY, "_inet"},
    {1042, 0, PGTYPE_STRING, "bpchar"},
    {1043, 0, PGTYPE_STRING, "varchar"},
    {1082, 0, PGTYPE_STRING, "date"},
    {1083, 0, PGTYPE_STRING, "time"},
    {1114, 0, PGTYPE_TS, "timestamp"},
    {1115, 1114, PGTYPE_ARRAY, "_timestamp"},
    {1182, 1082, PGTYPE_ARRAY, "_date"},
    {1183, 1083, PGTYPE_ARRAY, "_time"},
    {1184, 0, PGTYPE_TSTZ, "timestamptz"},
    {1185, 1184, PGTYPE_ARRAY, "_timestamptz"},
    {1186, 0, PGTYPE_STRING, "interval"},
    {1187, 1186, PGTYPE_ARRAY, "_interval"},
    {1231, 1700, PGTYPE_ARRAY, "_numeric"},
    {1266, 0, PGTYPE_STRING, "timetz"},
    {1270, 1266, PGTYPE_ARRAY, "_timetz"},
    {1560, 0, PGTYPE_STRING, "bit"},
    {1561, 1560, PGTYPE_ARRAY, "_bit"},
    {1562, 0, PGTYPE_STRING, "varbit"},
    {1563, 1562, PGTYPE_ARRAY, "_varbit"},
    {1700, 0, PGTYPE_NUM, "numeric"},
    {1790, 0, PGTYPE_STRING, "refcursor"},
    {2201, 1790, PGTYPE_ARRAY, "_refcursor"},
    {2202, 0, PGTYPE_STRING, "regprocedure"},
    {2203, 0, PGTYPE_STRING, "regoper"},
    {2204, 0, PGTYPE_STRING, "regoperator"},
    {2205, 0, PGTYPE_STRING, "regclass"},
    {2206, 0, PGTYPE_STRING, "regtype"},
    {2207, 2202, PGTYPE_ARRAY, "_regprocedure"},
    {2208, 2203, PGTYPE_ARRAY, "_regoper"},
    {2209, 2204, PGTYPE_ARRAY, "_regoperator"},
    {2210, 2205, PGTYPE_ARRAY, "_regclass"},
    {2211, 2206, PGTYPE_ARRAY, "_regtype"},
    {2949, 2970, PGTYPE_ARRAY, "_txid_snapshot"},
    {2950, 0, PGTYPE_STRING, "uuid"},
    {2951, 2950, PGTYPE_ARRAY, "_uuid"},
    {2970, 0, PGTYPE_STRING, "txid_snapshot"},
    {3220, 0, PGTYPE_STRING, "pg_lsn"},
    {3221, 3220, PGTYPE_ARRAY, "_pg_lsn"},
    {3361, 0, PGTYPE_STRING, "pg_ndistinct"},
    {3402, 0, PGTYPE_STRING, "pg_dependencies"},
    {3614, 0, PGTYPE_STRING, "tsvector"},
    {3615, 0, PGTYPE_STRING, "tsquery"},
    {3642, 0, PGTYPE_STRING, "gtsvector"},
    {3643, 3614, PGTYPE_ARRAY, "_tsvector"},
    {3644, 3642, PGTYPE_ARRAY, "_gtsvector"},
    {3645, 3615, PGTYPE_ARRAY, "_tsquery"},
    {3734, 0, PGTYPE_STRING, "regconfig"},
    {3735, 3734, PGTYPE_ARRAY, "_regconfig"},
    {3769, 0, PGTYPE_STRING, "regdictionary"},
    {3770, 3769, PGTYPE_ARRAY, "_regdictionary"},
    {3802, 0, PGTYPE_JSON, "jsonb"},
    {3807, 3802, PGTYPE_ARRAY, "_jsonb"},
    {3904, 0, PGTYPE_STRING, "int4range"},
    {3905, 3904, PGTYPE_ARRAY, "_int4range"},
    {3906, 0, PGTYPE_STRING, "numrange"},
    {3907, 3906, PGTYPE_ARRAY, "_numrange"},
    {3908, 0, PGTYPE_STRING, "tsrange"},
    {3909, 3908, PGTYPE_ARRAY, "_tsrange"},
    {3910, 0, PGTYPE_STRING, "tstzrange"},
    {3911, 3910, PGTYPE_ARRAY, "_tstzrange"},
    {3912, 0, PGTYPE_STRING, "daterange"},
    {3913, 3912, PGTYPE_ARRAY, "_daterange"},
    {3926, 0, PGTYPE_STRING, "int8range"},
    {3927, 3926, PGTYPE_ARRAY, "_int8range"},
    {4072, 0, PGTYPE_STRING, "jsonpath"},
    {4073, 4072, PGTYPE_ARRAY, "_jsonpath"},
    {4089, 0, PGTYPE_STRING, "regnamespace"},
    {4090, 4089, PGTYPE_ARRAY, "_regnamespace"},
    {4096, 0, PGTYPE_STRING, "regrole"},
    {4097, 4096, PGTYPE_ARRAY, "_regrole"},
    {4191, 0, PGTYPE_STRING, "regcollation"},
    {4192, 4191, PGTYPE_ARRAY, "_regcollation"},
    {4451, 0, PGTYPE_STRING, "int4multirange"},
    {4532, 0, PGTYPE_STRING, "nummultirange"},
    {4533, 0, PGTYPE_STRING, "tsmultirange"},
    {4534, 0, PGTYPE_STRING, "tstzmultirange"},
    {4535, 0, PGTYPE_STRING, "datemultirange"},
    {4536, 0, PGTYPE_STRING, "int8multirange"},
    {4600, 0, PGTYPE_STRING, "pg_brin_bloom_summary"},
    {4601, 0, PGTYPE_STRING, "pg_brin_minmax_multi_summary"},
    {5017, 0, PGTYPE_STRING, "pg_mcv_list"},
    {5038, 0, PGTYPE_STRING, "pg_snapshot"},
    {5039, 5038, PGTYPE_ARRAY, "_pg_snapshot"},
    {5069, 0, PGTYPE_STRING, "xid8"},
    {6150, 4451, PGTYPE_ARRAY, "_int4multirange"},
    {6151, 4532, PGTYPE_ARRAY, "_nummultirange"},
    {6152, 4533, PGTYPE_ARRAY, "_tsmultirange"},
    {6153, 4534, PGTYPE_ARRAY, "_tstzmultirange"},
    {6155, 4535, PGTYPE_ARRAY, "_datemultirange"},
    {6157, 4536, PGTYPE_ARRAY, "_int8multirange"},
};

#define NBUILTINS (sizeof(BUILTINS) / sizeof(BUILTINS[0]))

const pgtype_t *pgtype_builtin(uint32_t oid) {
    size_t lo = 0, hi = NBUILTINS;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (BUILTINS[mid].oid == oid)
            return &BUILTINS[mid];
        if (BUILTINS[mid].oid < oid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const pgtype_t *pgtype_builtin_named(const char *name) {
    for (size_t i = 0; i < NBUILTINS; i++)
        if (strcmp(BUILTINS[i].name, name) == 0)
            return &BUILTINS[i];
    return NULL;
}
