/// The page's only script, inline under the response's CSP nonce. It reads its configuration
/// from `<script type="application/json" id="paylink-config">` (`base`, `psp`, `state`, `link`,
/// `amount`, `currency`, `left`, `t` — the messages) and:
///
/// - reports `link.opened` once a person can see the page (visible, after load), then each step
///   of card entry — steps and field names only, never a value (SPEC §4);
/// - checks the card as it is typed (Luhn, brand, expiry in the future, CVC length by brand);
/// - on "Pay", sends the card to the PSP's `/v1/tokens` — the only place the number and CVC ever
///   go (SPEC §3) — bound to the link's id, amount and currency, then posts only the token, brand
///   and last four to `/p/TOKEN/pay`, and follows the outcome (3-D Secure redirect, polling,
///   receipt, or a decline message with the number and CVC cleared);
/// - on the "confirming" page, polls `/status` (about a minute) until the attempt is final.
///
/// It writes nothing to the console and puts nothing in the URL. Plain ES5-level code, no
/// build step, so what is reviewed is what runs.
enum PageScript {
    static let source = #"""
        (function () {
        "use strict";
        var c = JSON.parse(document.getElementById("paylink-config").textContent), t = c.t;
        var back = /[?&]redirect_status=/.test(location.search);
        function $(id) { return document.getElementById(id); }
        function say(id, text) {
          var e = $(id); if (!e) return;
          e.textContent = "";
          if (text) setTimeout(function () { e.textContent = text; }, 60);
        }
        function post(path, body) {
          return fetch(c.base + path, { method: "POST", headers: { "Content-Type": "application/json" },
            body: JSON.stringify(body), credentials: "same-origin", cache: "no-store" });
        }
        // One report at a time, so the agent sees the steps in the order they happened.
        var reports = Promise.resolve();
        function report(type, field) {
          var b = { type: type };
          if (field) b.field = field;
          reports = reports.then(function () { return post("/progress", b); }).catch(function () {});
        }
        function reload() { location.replace(c.base); }

        var helpBusy = false, help = $("help");
        if (help) help.addEventListener("click", function () {
          if (helpBusy) return;
          helpBusy = true;
          post("/progress", { type: "link.customer_needs_help" }).then(function (r) {
            if (r.status == 410) return reload();
            say("status", r.ok ? t.help_sent : t.help_failed);
          }, function () { say("status", t.help_failed); }).then(function () { helpBusy = false; });
        });

        function poll(n) {
          if (n >= 60) return say("status", t.slow);
          setTimeout(function () {
            fetch(c.base + "/status", { cache: "no-store", credentials: "same-origin" })
              .then(function (r) { return r.ok ? r.json() : {}; })
              .then(function (s) { if (s.link_status) handle(s, n + 1); else poll(n + 1); }, function () { poll(n + 1); });
          }, 1000);
        }
        // What to do with the page status (from /pay or /status).
        function handle(s, n) {
          var p = s.payment || {}, st = p.status, form = c.state == "open";
          if (st == "requires_action" && p.redirect_url && p.redirect_url.indexOf(c.psp + "/") == 0) {
            if (form) { location.href = p.redirect_url; return; }
            if (!back) { var a = $("continue"); a.href = p.redirect_url; a.hidden = false; }
          }
          if (st == "processing" || st == "requires_action") return poll(n || 0);
          if (!form || st == "succeeded" || s.link_status != "open" || s.locked) return reload();
          fail(st == "failed" ? (p.failure_code == "authentication_failed" ? t.auth_failed : t.failed)
            : t["decline_" + p.decline_code] || t.declined, true);
        }

        if (c.state == "confirming") poll(0);
        var form = $("card-form");
        if (!form) return;

        var time = document.querySelector("time");
        try {
          time.textContent = new Date(time.dateTime).toLocaleString(document.documentElement.lang, { dateStyle: "medium", timeStyle: "short" });
        } catch (e) {}

        var cd = $("countdown");
        if (cd && c.left > 0 && c.left <= 86400) {
          var end = Date.now() + c.left * 1000;
          var tick = function () {
            var s = Math.round((end - Date.now()) / 1000);
            if (s <= 0) return reload();
            var h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, x = s % 60;
            cd.textContent = t.time_left.replace("%s", (h ? h + ":" + (m < 10 ? "0" : "") : "") + m + ":" + (x < 10 ? "0" : "") + x);
            setTimeout(tick, 1000);
          };
          tick();
        }

        var seen = false;
        function opened() {
          if (seen || document.visibilityState != "visible") return;
          seen = true;
          report("link.opened");
        }
        addEventListener("load", opened);
        document.addEventListener("visibilitychange", opened);

        var F = { number: $("cc-number"), expiry: $("cc-exp"), cvc: $("cc-csc"), name: $("cc-name") };
        var names = ["number", "expiry", "cvc", "name"], pay = $("pay"), ok = {}, sent = {}, busy = false;
        function digits(v) { return v.replace(/\D/g, ""); }
        function brand(n) {
          if (/^4/.test(n)) return "visa";
          if (/^3[47]/.test(n)) return "amex";
          if (/^(5[1-5]|222[1-9]|22[3-9]|2[3-6]|27[01]|2720)/.test(n)) return "mastercard";
          if (/^(6011|64[4-9]|65)/.test(n)) return "discover";
          if (/^(30[0-5]|36|38|39)/.test(n)) return "diners";
          if (/^(352[89]|35[3-8])/.test(n)) return "jcb";
          if (/^62/.test(n)) return "unionpay";
          return "";
        }
        var brandNames = { visa: "Visa", amex: "American Express", mastercard: "Mastercard", discover: "Discover",
          diners: "Diners Club", jcb: "JCB", unionpay: "UnionPay" };
        function luhn(n) {
          for (var i = n.length - 1, sum = 0, even = false; i >= 0; i--, even = !even) {
            var k = +n.charAt(i);
            if (even && (k *= 2) > 9) k -= 9;
            sum += k;
          }
          return sum % 10 == 0;
        }
        function expiry() { return /^(\d\d)\/(\d\d)$/.exec(F.expiry.value); }
        function valid(f) {
          var v = F[f].value, n = digits(F.number.value), b = brand(n);
          if (f == "number") return n.length >= 12 && n.length <= 19 && (b != "amex" || n.length == 15) && luhn(n);
          if (f == "cvc") return v.length == (b == "amex" ? 4 : 3) && !/\D/.test(v);
          if (f == "name") return v.trim().length > 0;
          var m = expiry(), now = new Date();
          if (!m) return false;
          var mo = +m[1], y = 2000 + +m[2];
          return mo >= 1 && mo <= 12 && (y > now.getFullYear() || y == now.getFullYear() && mo > now.getMonth());
        }
        // Checks a field; `show` puts the error on screen (on leaving the field, or on Pay).
        function check(f, show) {
          var good = valid(f), e = F[f], err = $(e.id + "-error");
          if (good || show || e.getAttribute("aria-invalid")) {
            var text = good ? "" : t["err_" + f];
            e.setAttribute("aria-invalid", good ? "false" : "true");
            if (err.textContent != text) err.textContent = text;
          }
          if (good && !sent[f]) { sent[f] = true; report("payment.card_field_completed", f); }
          ok[f] = good;
          if (ok.number && ok.expiry && ok.cvc && ok.name && !sent.all) { sent.all = true; report("payment.card_entry_completed"); }
          return good;
        }
        function formatNumber() {
          var e = F.number, before = digits(e.value.slice(0, e.selectionStart)).length, n = digits(e.value).slice(0, 19);
          var gaps = brand(n) == "amex" ? [4, 10] : [4, 8, 12, 16], out = "";
          for (var i = 0; i < n.length; i++) out += (gaps.indexOf(i) >= 0 ? " " : "") + n.charAt(i);
          if (out == e.value) return;
          e.value = out;
          for (var p = 0, k = 0; p < out.length && k < before; p++) if (out.charAt(p) != " ") k++;
          e.setSelectionRange(p, p);
        }
        names.forEach(function (f) {
          var e = F[f];
          e.addEventListener("input", function () {
            if (!sent.started) {
              sent.started = true;
              report("payment.card_entry_started");
              // After a decline the expiry and name are kept: tell their steps now, in order, not at Pay.
              names.forEach(function (g) { if (g != f && ok[g] && !sent[g]) { sent[g] = true; report("payment.card_field_completed", g); } });
            }
            if (f == "number") {
              formatNumber();
              $("cc-brand").textContent = brandNames[brand(digits(e.value))] || "";
              if (F.cvc.value) check("cvc", false);
            } else if (f == "expiry") {
              var d = digits(e.value).slice(0, 4);
              if (/^\d\//.test(e.value)) d = "0" + d;
              var v = d.length > 2 ? d.slice(0, 2) + "/" + d.slice(2) : d;
              if (v != e.value) e.value = v;
            } else if (f == "cvc" && /\D/.test(e.value)) {
              e.value = digits(e.value).slice(0, 4);
            }
            check(f, false);
          });
          e.addEventListener("blur", function () { if (e.value) check(f, true); });
        });

        function fail(text, clear) {
          busy = false;
          pay.disabled = false;
          say("status", "");
          say("message", text);
          if (!clear) return;
          // A new attempt: the PSP token is spent, so the number and CVC must be typed again.
          F.number.value = F.cvc.value = "";
          $("cc-brand").textContent = "";
          ["number", "cvc"].forEach(function (f) {
            F[f].removeAttribute("aria-invalid");
            $(F[f].id + "-error").textContent = "";
            ok[f] = false;
          });
          sent = {};
          F.number.focus();
        }
        function pspError(j) {
          var code = j && j.error && j.error.code;
          var f = { invalid_number: "number", invalid_expiry_month: "expiry", invalid_expiry_year: "expiry",
            expired_card: "expiry", invalid_cvc: "cvc" }[code];
          if (!f) return fail(t.failed);
          fail(t["err_" + f]);
          F[f].setAttribute("aria-invalid", "true");
          $(F[f].id + "-error").textContent = t["err_" + f];
          ok[f] = false;
          F[f].focus();
        }
        function json(r) { return r.json().then(function (j) { return [r, j]; }, function () { return [r, {}]; }); }

        form.addEventListener("submit", function (ev) {
          ev.preventDefault();
          if (busy) return;
          var bad = names.filter(function (f) { return !check(f, true); });
          if (bad.length) { say("message", t.err_summary); F[bad[0]].focus(); return; }
          busy = true;
          pay.disabled = true;
          say("message", "");
          say("status", t.processing);
          var m = expiry();
          fetch(c.psp + "/v1/tokens", { method: "POST", headers: { "Content-Type": "application/json" },
            credentials: "omit", referrerPolicy: "no-referrer", cache: "no-store",
            body: JSON.stringify({ number: digits(F.number.value), exp_month: +m[1], exp_year: 2000 + +m[2], cvc: F.cvc.value,
              name: F.name.value.trim(), reference: c.link, amount: c.amount, currency: c.currency }) })
            .then(json)
            .then(function (a) {
              if (a[0].status != 201 || !a[1].id || !a[1].card) return pspError(a[1]);
              return post("/pay", { psp_token: a[1].id, brand: a[1].card.brand, last4: a[1].card.last4 }).then(json).then(function (b) {
                if (b[0].ok) return handle(b[1], 0);
                var code = (b[1].error || {}).code || "";
                if (/^link_|^payment_in_progress$/.test(code)) return reload();
                fail(code == "psp_unavailable" ? t.psp_unavailable : /^psp_token/.test(code) ? t.reenter : t.failed, /^psp_token/.test(code));
              });
            })
            .catch(function () { fail(t.network); });
        });
        pay.disabled = false;
        })();
        """#
}
