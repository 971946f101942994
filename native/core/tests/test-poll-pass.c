/*
 * test-poll-pass.c — AioPollPass (aio-internal.h): aio_poll() as a pass
 * whose BH callbacks may hand their work to the caller.  The JS binding's
 * poll() relies on it; these cases pin what it must keep: a pass that
 * stops after a yielding BH runs the rest when resumed, in aio_poll()'s
 * order; a nested aio_poll() in the handed-back work drains the pass's
 * slice; and nothing but a pass begun with may_yield ever yields.
 *
 * SPDX-License-Identifier: MIT
 */
#include "test-util.h"

#include "aio-internal.h"

/* What ran, in order: one letter per callback. */
typedef struct {
    AioContext *ctx;
    GString *log;
    char letter;
    bool yield;     /* hand the work back when allowed */
    bool may_yield; /* what aio__poll_may_yield() said */
} Step;

static void step_cb(void *opaque)
{
    Step *s = opaque;

    s->may_yield = aio__poll_may_yield(s->ctx);
    if (s->yield && s->may_yield) {
        aio__poll_yield(s->ctx);
        return; /* the caller appends our letter (the "work") */
    }
    g_string_append_c(s->log, s->letter);
}

static void test_yield_resume_order(void)
{
    AioContext *ctx = test_ctx_new();
    GString *log = g_string_new("");
    Step a = {ctx, log, 'a', true, false};
    Step b = {ctx, log, 'b', false, false};
    Step c = {ctx, log, 'c', true, false};
    QEMUBH *bha = aio_bh_new(ctx, step_cb, &a);
    QEMUBH *bhb = aio_bh_new(ctx, step_cb, &b);
    QEMUBH *bhc = aio_bh_new(ctx, step_cb, &c);
    Step t = {ctx, log, 'T', false, false};
    QEMUTimer *timer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS,
                                     step_cb, &t);
    AioPollPass pass;

    timer_mod(timer, 0); /* expired: runs in the timer phase */
    qemu_bh_schedule(bha);
    qemu_bh_schedule(bhb);
    qemu_bh_schedule(bhc); /* LIFO: c, b, a */

    aio__poll_begin(ctx, false, AIO_PASS_MAY_YIELD, &pass);
    g_assert_false(aio__poll_run(&pass)); /* c yielded */
    g_assert_true(c.may_yield);
    g_assert_cmpstr(log->str, ==, "");
    g_string_append_c(log, 'C');          /* the caller does c's work */
    g_assert_false(aio__poll_run(&pass)); /* b ran, a yielded */
    g_assert_cmpstr(log->str, ==, "Cb");
    g_string_append_c(log, 'A');
    g_assert_true(aio__poll_run(&pass)); /* the timer, then the end */
    g_assert_cmpstr(log->str, ==, "CbAT");
    g_assert_true(pass.progress);
    g_assert_true(b.may_yield); /* b was asked too, and could have */

    /* The same BHs through aio_poll(): nothing may yield. */
    g_string_truncate(log, 0);
    qemu_bh_schedule(bha);
    qemu_bh_schedule(bhc);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(log->str, ==, "ca");
    g_assert_false(a.may_yield);
    g_assert_false(c.may_yield);
    g_assert_false(aio_poll(ctx, false));

    timer_free(timer);
    qemu_bh_delete(bha);
    qemu_bh_delete(bhb);
    qemu_bh_delete(bhc);
    g_string_free(log, TRUE);
    test_ctx_free(ctx);
}

static void test_nested_poll_drains_yielded_slice(void)
{
    AioContext *ctx = test_ctx_new();
    GString *log = g_string_new("");
    Step x = {ctx, log, 'x', true, false};
    Step y = {ctx, log, 'y', true, false};
    Step z = {ctx, log, 'z', true, false};
    QEMUBH *bhx = aio_bh_new(ctx, step_cb, &x);
    QEMUBH *bhy = aio_bh_new(ctx, step_cb, &y);
    QEMUBH *bhz = aio_bh_new(ctx, step_cb, &z);
    AioPollPass pass;

    qemu_bh_schedule(bhx);
    qemu_bh_schedule(bhy);
    qemu_bh_schedule(bhz); /* z, y, x */

    aio__poll_begin(ctx, false, AIO_PASS_MAY_YIELD, &pass);
    g_assert_false(aio__poll_run(&pass)); /* z handed back */
    /* z's work: a nested aio_poll(), which runs the rest of the slice
     * (y, x) from C, since it may not yield. */
    g_string_append_c(log, 'Z');
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(log->str, ==, "Zyx");
    g_assert_false(y.may_yield);
    g_assert_true(aio__poll_run(&pass)); /* nothing left */
    g_assert_cmpstr(log->str, ==, "Zyx");
    g_assert_true(pass.progress);
    g_assert_false(aio_poll(ctx, false));

    qemu_bh_delete(bhx);
    qemu_bh_delete(bhy);
    qemu_bh_delete(bhz);
    g_string_free(log, TRUE);
    test_ctx_free(ctx);
}

/* A pass nested in handed-back work yields to its own caller; the outer
 * pass then goes on after it. */
static void test_nested_pass_yields_to_its_caller(void)
{
    AioContext *ctx = test_ctx_new();
    GString *log = g_string_new("");
    Step p = {ctx, log, 'p', true, false};
    Step q = {ctx, log, 'q', true, false};
    QEMUBH *bhp = aio_bh_new(ctx, step_cb, &p);
    QEMUBH *bhq = aio_bh_new(ctx, step_cb, &q);
    AioPollPass outer, inner;

    qemu_bh_schedule(bhp);
    qemu_bh_schedule(bhq); /* q, p */
    aio__poll_begin(ctx, false, AIO_PASS_MAY_YIELD, &outer);
    g_assert_false(aio__poll_run(&outer)); /* q handed back */
    g_string_append_c(log, 'Q');
    /* q's work begins a pass of its own: p (the outer slice) yields to it. */
    aio__poll_begin(ctx, false, AIO_PASS_MAY_YIELD, &inner);
    g_assert_false(aio__poll_run(&inner));
    g_string_append_c(log, 'P');
    g_assert_true(aio__poll_run(&inner));
    g_assert_true(inner.progress);
    g_assert_true(aio__poll_run(&outer));
    g_assert_cmpstr(log->str, ==, "QP");
    g_assert_false(aio_poll(ctx, false));

    qemu_bh_delete(bhp);
    qemu_bh_delete(bhq);
    g_string_free(log, TRUE);
    test_ctx_free(ctx);
}

/* A GSource dispatch never yields, even inside a yieldable pass's
 * handed-back work (its drain is not the pass's). */
static void test_gsource_never_yields(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = g_main_context_new();
    GString *log = g_string_new("");
    Step g = {ctx, log, 'g', true, false};
    Step o = {ctx, log, 'o', true, false};
    QEMUBH *bhg = aio_bh_new(ctx, step_cb, &g);
    QEMUBH *bho = aio_bh_new(ctx, step_cb, &o);
    AioPollPass pass;

    aio_context_attach(ctx, main, G_PRIORITY_DEFAULT);
    qemu_bh_schedule(bho);
    aio__poll_begin(ctx, false, AIO_PASS_MAY_YIELD, &pass);
    g_assert_false(aio__poll_run(&pass)); /* o handed back */
    qemu_bh_schedule(bhg);
    g_assert_true(g_main_context_iteration(main, FALSE));
    g_assert_false(g.may_yield);
    g_assert_cmpstr(log->str, ==, "g");
    g_assert_true(aio__poll_run(&pass));
    aio_context_detach(ctx);

    qemu_bh_delete(bhg);
    qemu_bh_delete(bho);
    g_main_context_unref(main);
    g_string_free(log, TRUE);
    test_ctx_free(ctx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/poll-pass/yield-resume-order", test_yield_resume_order);
    g_test_add_func("/poll-pass/nested-poll-drains-yielded-slice",
                    test_nested_poll_drains_yielded_slice);
    g_test_add_func("/poll-pass/nested-pass-yields-to-its-caller",
                    test_nested_pass_yields_to_its_caller);
    g_test_add_func("/poll-pass/gsource-never-yields",
                    test_gsource_never_yields);
    return g_test_run();
}
