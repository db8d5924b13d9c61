/**
 * The one detail-page pattern: one record loaded by ID, a "not found" answer for an ID the user
 * cannot see, a breadcrumb back to the list, a facts card beside the main card(s).
 */
import { Breadcrumb, Button, Card, Descriptions, Result, Skeleton } from "antd";
import type { ReactNode } from "react";
import { Link } from "react-router-dom";

import { ApiError } from "../api/problem";
import { PageHeader } from "./PageHeader";
import { ProblemAlert } from "./ProblemAlert";

export interface DetailPageProps<T> {
  query: { data: T | undefined; error: unknown; refetch: () => unknown };
  /** The list this record belongs to: the breadcrumb's first step and the way back from "not found". */
  list: { to: string; label: string; back: string };
  /** API statuses that mean "not one you can see". */
  notFoundStatuses: readonly number[];
  notFound: { title: string; subTitle: string };
  skeletonRows: number;
  header: (record: T) => { title: string; subtitle?: ReactNode; extra?: ReactNode };
  /** The facts card: its title and label → value lines. */
  facts: (record: T) => { title: string; items: readonly (readonly [string, ReactNode])[] };
  /** The main column. */
  children: (record: T) => ReactNode;
  /** Dialogs and anything else after the grid. */
  after?: (record: T) => ReactNode;
}

export function DetailPage<T>({ query, list, notFoundStatuses, notFound, skeletonRows, header, facts, children, after }: DetailPageProps<T>) {
  const { error, data } = query;
  if (error instanceof ApiError && notFoundStatuses.includes(error.status)) {
    return (
      <Result
        status="404"
        title={notFound.title}
        subTitle={notFound.subTitle}
        extra={
          <Link to={list.to}>
            <Button type="primary">{list.back}</Button>
          </Link>
        }
      />
    );
  }
  if (error) return <ProblemAlert error={error} onRetry={() => void query.refetch()} />;
  if (data === undefined) return <Skeleton active paragraph={{ rows: skeletonRows }} />;

  const { title, subtitle, extra } = header(data);
  const card = facts(data);
  return (
    <>
      <PageHeader
        breadcrumb={<Breadcrumb items={[{ title: <Link to={list.to}>{list.label}</Link> }, { title }]} />}
        title={title}
        subtitle={subtitle}
        extra={extra}
      />
      <div className="grid gap-6 lg:grid-cols-[minmax(0,1fr)_minmax(0,2fr)]">
        <Card title={card.title}>
          <Descriptions column={1} size="small" items={card.items.map(([label, value]) => ({ key: label, label, children: value }))} />
        </Card>
        {children(data)}
      </div>
      {after?.(data)}
    </>
  );
}
