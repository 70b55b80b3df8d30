-- Clinics' reconciliations (the national platform's 3201 totals and 3202 detail), the
-- differences a detail reconciliation found, and the scratch rows a detail upload is
-- compared from (deleted once it is compared).

CREATE TABLE reconciliations (
    id TEXT COLLATE "C" PRIMARY KEY,
    -- 'totals' or 'detail'.
    kind TEXT NOT NULL,
    clinic TEXT NOT NULL,
    insutype TEXT NOT NULL,
    clr_type TEXT NOT NULL,
    stmt_begndate DATE NOT NULL,
    stmt_enddate DATE NOT NULL,
    -- 'receiving' while a detail upload is read, then 'done'.
    state TEXT NOT NULL,
    -- '0' agree, '1' differ; null while receiving.
    stmt_rslt TEXT,
    -- The clinic's totals (as sent, or over its detail rows that stand).
    clinic_medfee_sumamt BIGINT NOT NULL,
    clinic_fund_pay_sumamt BIGINT NOT NULL,
    clinic_setl_cnt BIGINT NOT NULL,
    -- The scheme's: settlements of the period that stand, and those since cancelled.
    scheme_medfee_sumamt BIGINT NOT NULL,
    scheme_fund_pay_sumamt BIGINT NOT NULL,
    scheme_setl_cnt BIGINT NOT NULL,
    cancelled_medfee_sumamt BIGINT NOT NULL,
    cancelled_fund_pay_sumamt BIGINT NOT NULL,
    cancelled_setl_cnt BIGINT NOT NULL,
    -- Detail only: the clinic's rows, how many agreed, and the differences by code.
    rows_received BIGINT,
    rows_agreed BIGINT,
    only_scheme BIGINT,
    only_clinic BIGINT,
    differing BIGINT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
CREATE INDEX reconciliations_receiving ON reconciliations (created_at) WHERE state = 'receiving';

-- One row per settlement that differs; agreeing ones are only counted.
CREATE TABLE reconciliation_differences (
    reconciliation_id TEXT COLLATE "C" NOT NULL,
    setl_id TEXT COLLATE "C" NOT NULL,
    -- '1' only the scheme has it, '2' only the clinic, '3' both, and they differ.
    stmt_rslt TEXT NOT NULL,
    -- The clinic's row (codes 2 and 3).
    row_no BIGINT,
    scheme_mdtrt_id TEXT,
    scheme_psn_no TEXT,
    scheme_medfee_sumamt BIGINT,
    scheme_fund_pay_sumamt BIGINT,
    scheme_refd_setl_flag TEXT,
    clinic_mdtrt_id TEXT,
    clinic_psn_no TEXT,
    clinic_medfee_sumamt BIGINT,
    clinic_fund_pay_sumamt BIGINT,
    clinic_refd_setl_flag TEXT,
    PRIMARY KEY (reconciliation_id, setl_id)
);

-- A detail upload's rows until it has been compared. Loaded without a key: a
-- setl_id sent twice is found after the load and refused with its rows.
CREATE TABLE reconciliation_rows (
    reconciliation_id TEXT COLLATE "C" NOT NULL,
    row_no BIGINT NOT NULL,
    setl_id TEXT COLLATE "C" NOT NULL,
    mdtrt_id TEXT NOT NULL,
    psn_no TEXT NOT NULL,
    medfee_sumamt BIGINT NOT NULL,
    fund_pay_sumamt BIGINT NOT NULL,
    refd_setl_flag TEXT NOT NULL
);
CREATE INDEX reconciliation_rows_setl ON reconciliation_rows (reconciliation_id, setl_id);

-- A clinic's settlements of a period, by the time they were made.
CREATE INDEX claims_clinic_created ON claims (clinic, created_at);
