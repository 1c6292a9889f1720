/// The one HTML layout every customer page renders through, and its stylesheet.
///
/// Card safety (SPEC §3, PCI DSS 4.0 req. 6.4.3): the card inputs have no `name`, so no form
/// submission can carry them; the form submits by GET to the page itself, so with the script off
/// (or broken) "Pay" merely reloads the page. Only the script sends the card, to the PSP.
///
/// Accessibility (WCAG 2.2 AA): every input has a `<label>`, errors are text tied to their input
/// by `aria-describedby` and `aria-invalid`, outcomes are announced through `role="alert"` /
/// `role="status"` regions, focus is always visible, DOM order is visual order, targets are
/// ≥ 44 px, and every colour pair is ≥ 4.5:1 (#1a1a1a, #4a4a4a, #0b57d0, #b3261e on white).
///
/// Element ids are a contract with the browser tests: `card-form`, `cc-number`, `cc-exp`,
/// `cc-csc`, `cc-name` (each with `…-error`), `cc-brand`, `pay`, `help`, `message`, `status`,
/// `countdown`, `continue`, `paylink-config`.
enum PageTemplate {
    static let layout = """
        <!doctype html>
        <html lang="{{lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <meta name="robots" content="noindex,nofollow"><link rel="icon" href="data:,"><title>{{heading}}</title>
        <style nonce="{{nonce}}">{{{css}}}</style>
        </head><body><main>
        <h1>{{heading}}</h1>
        {{#details}}<dl>{{#description}}<dt>{{descriptionLabel}}</dt><dd>{{description}}</dd>{{/description}}<dt>{{amountLabel}}</dt><dd class="amount">{{amount}}</dd><dt>{{referenceLabel}}</dt><dd>{{reference}}</dd>{{#card}}<dt>{{cardLabel}}</dt><dd>{{card}}</dd>{{/card}}{{#expiresAt}}<dt>{{expiresLabel}}</dt><dd><time datetime="{{expiresAt}}">{{expiresText}}</time> <span id="countdown" role="timer"></span></dd>{{/expiresAt}}</dl>{{/details}}
        {{#body}}<p>{{body}}</p>{{/body}}
        {{#form}}<noscript><p class="note">{{noScript}}</p></noscript>
        <form id="card-form" action="#" method="get" novalidate>
        <div class="f"><label for="cc-number">{{numberLabel}}</label><input id="cc-number" type="text" inputmode="numeric" autocomplete="cc-number" autocorrect="off" autocapitalize="off" spellcheck="false" maxlength="23" required aria-describedby="cc-brand cc-number-error"><span id="cc-brand" class="hint"></span><span id="cc-number-error" class="err" aria-live="polite"></span></div>
        <div class="row"><div class="f"><label for="cc-exp">{{expiryLabel}}</label><input id="cc-exp" type="text" inputmode="numeric" autocomplete="cc-exp" autocorrect="off" spellcheck="false" maxlength="5" placeholder="MM/YY" required aria-describedby="cc-exp-error"><span id="cc-exp-error" class="err" aria-live="polite"></span></div>
        <div class="f"><label for="cc-csc">{{cvcLabel}}</label><input id="cc-csc" type="text" inputmode="numeric" autocomplete="cc-csc" autocorrect="off" spellcheck="false" maxlength="4" required aria-describedby="cc-csc-error"><span id="cc-csc-error" class="err" aria-live="polite"></span></div></div>
        <div class="f"><label for="cc-name">{{nameLabel}}</label><input id="cc-name" type="text" autocomplete="cc-name" autocorrect="off" spellcheck="false" maxlength="200" required aria-describedby="cc-name-error"><span id="cc-name-error" class="err" aria-live="polite"></span></div>
        <button id="pay" type="submit" disabled>{{payLabel}}</button>
        </form><p class="note">{{secureNote}}</p>{{/form}}
        {{#confirming}}<p><a id="continue" href="#" hidden>{{continueLabel}}</a></p>{{/confirming}}
        {{#script}}<p id="message" role="alert">{{notice}}</p><p id="status" role="status"></p>{{/script}}
        {{#help}}<button id="help" type="button" class="secondary">{{helpLabel}}</button>{{/help}}
        {{#script}}<script type="application/json" id="paylink-config">{{{config}}}</script>
        <script nonce="{{nonce}}">{{{js}}}</script>{{/script}}
        </main></body></html>
        """

    static let css = """
        *{box-sizing:border-box}\
        body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1a1a1a;background:#fff}\
        main{max-width:28rem;margin:0 auto;padding:1.5rem 1rem}\
        h1{font-size:1.5rem;line-height:1.25;margin:0 0 1rem}\
        dl{display:grid;grid-template-columns:auto 1fr;gap:.25rem 1rem;margin:0 0 1.25rem}\
        dt{color:#4a4a4a}dd{margin:0;overflow-wrap:anywhere}.amount{font-weight:700;font-size:1.25rem}\
        .f{display:flex;flex-direction:column;margin:0 0 1rem}.row{display:flex;gap:1rem}.row .f{flex:1;min-width:0}\
        label{font-weight:600;margin:0 0 .25rem}\
        input{font:inherit;color:inherit;background:#fff;width:100%;min-height:2.75rem;padding:.5rem .75rem;\
        border:1px solid #767676;border-radius:.375rem}\
        input::placeholder{color:#6b6b6b}input[aria-invalid=true]{border:2px solid #b3261e}\
        :focus-visible{outline:3px solid #0b57d0;outline-offset:2px}\
        button{font:inherit;font-weight:600;width:100%;min-height:2.75rem;padding:.5rem 1rem;border-radius:.375rem;\
        border:2px solid #0b57d0;background:#0b57d0;color:#fff;cursor:pointer}\
        button:disabled{opacity:.6;cursor:default}button.secondary{background:#fff;color:#0b57d0;margin-top:1rem}\
        .hint,.note{color:#4a4a4a;font-size:.875rem}.err{color:#b3261e;font-size:.875rem}\
        #message:not(:empty){color:#b3261e;background:#fdf2f2;border-left:4px solid #b3261e;padding:.5rem .75rem}\
        a{color:#0b57d0}[hidden]{display:none}
        """
}
