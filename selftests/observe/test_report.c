// SPDX-License-Identifier: GPL-2.0
/* JSON lines and histograms exactly as Documentation/metrics.md describes them. */
#include <criterion/criterion.h>
#include <string.h>
#include "observe/report.h"

static const char *names(const void *arg, __u32 id)
{
	return id == 3 ? "splitter" : NULL;
}

static const struct kp_report_ctx ctx = {
	.ts_ns = 1700000000000000000ULL, .interval_ms = 1000, .op_name = names,
};

/* Through kp_report_json_line, exactly as kpilot observe --json prints. */
static char *dump(json_t *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_eq(kp_report_json_line(f, o), 0);
	fclose(f);
	cr_assert_eq(buf[len - 1], '\n', "one object per line");
	buf[len - 1] = '\0';
	return buf;
}

Test(report, reals_print_short)
{
	struct kp_entity e = { .kind = KP_ENTITY_DEVICE, .id = 1 };
	char *s;

	/* 5 samples in [256, 512) us: p99 is rank 4.95 of 5, 256 + 256 * 0.99 = 509.44. */
	e.io_lat_hist[8] = 5;
	s = dump(kp_report_entity_json(&e, &ctx));
	cr_assert(strstr(s, "\"io_lat_p99_us\":509.4,"), "%s", s);
	free(s);
}

Test(report, process_json_has_every_documented_field)
{
	static const char *const fields[] = {
		"ts_ns", "interval_ms", "kind", "pid", "comm", "operator", "cpu_ns", "runq_wait_ns",
		"runq_p50_us", "runq_p99_us", "nvcsw", "nivcsw", "io_ops", "io_read_bytes",
		"io_write_bytes", "io_lat_p50_us", "io_lat_p99_us", "tcp_retrans", "tcp_srtt_us",
		"tcp_opens", "tcp_closes", "tcp_time_wait", "tcp_connect_p99_us",
	};
	struct kp_entity e = { .kind = KP_ENTITY_PROCESS, .id = 77, .op = 3, .cpu_ns = 5000,
			       .tcp_srtt_sum_us = 900, .tcp_srtt_samples = 3,
			       .tcp_active_opens = 2, .tcp_passive_opens = 1 };
	json_t *o;
	size_t i;

	strcpy(e.comm, "splitter-1");
	e.runq_hist[3] = 100;
	o = kp_report_entity_json(&e, &ctx);
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		cr_assert_not_null(json_object_get(o, fields[i]), "missing %s", fields[i]);
	cr_assert_str_eq(json_string_value(json_object_get(o, "kind")), "process");
	cr_assert_str_eq(json_string_value(json_object_get(o, "operator")), "splitter");
	cr_assert_eq(json_integer_value(json_object_get(o, "pid")), 77);
	cr_assert_eq(json_integer_value(json_object_get(o, "cpu_ns")), 5000);
	cr_assert_eq(json_integer_value(json_object_get(o, "tcp_srtt_us")), 300);
	cr_assert_eq(json_integer_value(json_object_get(o, "tcp_opens")), 3);
	cr_assert_float_eq(json_real_value(json_object_get(o, "runq_p50_us")), 12.0, 1e-9);
	cr_assert_eq(json_integer_value(json_object_get(o, "ts_ns")), (json_int_t)ctx.ts_ns);
	json_decref(o);
}

Test(report, exact_line_for_operator_and_device)
{
	struct kp_entity op = { .kind = KP_ENTITY_OPERATOR, .id = 3, .cpu_ns = 1 };
	struct kp_entity dev = { .kind = KP_ENTITY_DEVICE, .id = (8 << 20) | 16, .io_ops = 2,
				 .io_read_bytes = 8192 };
	char *s;

	s = dump(kp_report_entity_json(&dev, &ctx));
	cr_assert_str_eq(s, "{\"ts_ns\":1700000000000000000,\"interval_ms\":1000,\"kind\":\"device\","
			    "\"dev\":\"8:16\",\"io_ops\":2,\"io_read_bytes\":8192,\"io_write_bytes\":0,"
			    "\"io_lat_p50_us\":0.0,\"io_lat_p99_us\":0.0,\"io_queue_ns\":0}");
	free(s);
	s = dump(kp_report_entity_json(&op, &ctx));
	cr_assert(strstr(s, "\"kind\":\"operator\",\"pid\":null,\"comm\":null,\"operator\":\"splitter\""), "%s", s);
	free(s);
	s = dump(kp_report_summary_json(&ctx, 10, 4, 1, 2));
	cr_assert_str_eq(s, "{\"ts_ns\":1700000000000000000,\"interval_ms\":1000,\"kind\":\"summary\","
			    "\"events\":10,\"records\":4,\"drops\":1,\"processes\":2}");
	free(s);
}

Test(report, log2_hist_like_libbpf_tools)
{
	__u64 h[KP_HIST_SLOTS] = { [0] = 1, [2] = 4 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	kp_print_log2_hist(f, h, KP_HIST_SLOTS, "run-queue wait");
	fclose(f);
	cr_assert_str_eq(buf,
		"run-queue wait\n"
		"          usecs                : count    distribution\n"
		"             0 -> 1              : 1        |**********                              |\n"
		"             2 -> 3              : 0        |                                        |\n"
		"             4 -> 7              : 4        |****************************************|\n");
	free(buf);
}
