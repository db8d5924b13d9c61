import { lazy, Suspense } from "react";
import { Route, Routes } from "react-router-dom";

import { RequireAuth } from "./auth/RequireAuth";

// The first load carries React, the router and the sign-in page only; Ant Design, the data
// layer and every screen arrive with the signed-in shell (fetched while the user types).
const LoginPage = lazy(() => import("./pages/LoginPage"));
const Shell = lazy(() => import("./Shell"));

export function BootSpinner() {
  return <div className="boot-spinner" role="status" aria-label="Loading" />;
}

export default function App() {
  return (
    <Suspense fallback={<BootSpinner />}>
      <Routes>
        <Route path="/login" element={<LoginPage />} />
        <Route
          path="*"
          element={
            <RequireAuth>
              <Shell />
            </RequireAuth>
          }
        />
      </Routes>
    </Suspense>
  );
}
