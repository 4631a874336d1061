"""A citizen signs in with the My Number Card in real Chromium: from niji's
login page, through the OpenID provider's own login page (idpyoidc on
loopback, started by tests/it/browser.rs), back to their page of who used
their data; then a forged sign-in (a state this browser never left with)
ends on niji's refusal page with no session.

Environment: NIJI_URL, NIJI_CARD_LOGIN and NIJI_CARD_PIN (the provider's
test user), NIJI_SHOTS.
"""

import os
import sys

import axe
from playwright.sync_api import expect, sync_playwright

BASE = os.environ["NIJI_URL"]
LOGIN = os.environ["NIJI_CARD_LOGIN"]
PIN = os.environ["NIJI_CARD_PIN"]
SHOTS = os.environ["NIJI_SHOTS"]
CHROMIUM = os.environ.get("NIJI_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def shot(page, name, ours=True):
    """A screenshot of the page, and axe-core on it when it is niji's."""
    page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)
    if ours:
        axe.check(page, name)


def main():
    os.makedirs(SHOTS, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(locale="ja-JP")
        page = context.new_page()
        page.goto(BASE + "/login")
        shot(page, "30-login-with-card")
        page.get_by_role("link", name="マイナンバーカードでログイン").click()
        # The provider's own page.
        expect(page.get_by_role("heading", name="マイナンバーカードでログイン（試験用）")).to_be_visible()
        shot(page, "31-provider-login", ours=False)
        page.get_by_label("利用者").fill(LOGIN)
        page.get_by_label("暗証番号").fill(PIN)
        page.get_by_role("button", name="ログイン").click()
        # Back at niji, signed in, on their own page.
        expect(page.get_by_role("heading", name="わたしのデータの利用記録")).to_be_visible()
        expect(page.get_by_text("ログイン中: citizen-")).to_be_visible()
        shot(page, "32-citizen-signed-in-by-card")
        context.close()

        # Another browser given an answer it never asked for.
        context = browser.new_context(locale="ja-JP")
        page = context.new_page()
        page.goto(BASE + "/login/card/callback?state=forged&code=forged")
        expect(page.get_by_role("heading", name="マイナンバーカードでのログイン")).to_be_visible()
        expect(page.get_by_role("alert")).to_contain_text("もう一度はじめから")
        expect(page.get_by_role("link", name="お手元の登録コード（郵送のお知らせ）でログインする")).to_be_visible()
        shot(page, "33-card-refused")
        page.goto(BASE + "/me")
        expect(page.get_by_role("heading", name="ログイン", exact=True)).to_be_visible()
        context.close()
        browser.close()
    print("card browser journey passed")


if __name__ == "__main__":
    sys.exit(main())
